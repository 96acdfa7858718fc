package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIsolationRequiredRefusesWithoutRoot: a cell told --isolation
// required on a host where it cannot isolate (here: it runs as an
// unprivileged user) refuses to start and says why; an unknown mode is
// refused by name.
func TestIsolationRequiredRefusesWithoutRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the test starts the cell as another user, which needs root")
	}
	data, err := os.MkdirTemp("/var/lib", "paved-e2e-required-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	if err := os.Chown(data, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode, want string
		asNobody   bool
	}{
		{"required", "--isolation required, but this host cannot isolate: the cell runs as uid 65534", true},
		{"sideways", `--isolation "sideways": use auto, required or none`, false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		dir := t.TempDir() // the cell's own (root's)
		if tc.asNobody {
			dir = data
		}
		bin := pavedBin
		if tc.asNobody {
			bin = copyForNobody(t, pavedBin)
		}
		cmd := exec.CommandContext(ctx, bin, "server", "--data", dir, "--api", freeAddr(t), "--router", freeAddr(t),
			"--isolation", tc.mode)
		if tc.asNobody {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		timedOut := ctx.Err() != nil // it started instead of refusing
		cancel()
		if err == nil || timedOut || !strings.Contains(out.String(), tc.want) {
			t.Errorf("--isolation %s: %v (ran until the timeout: %v), output:\n%s\nwant a refusal saying %q", tc.mode, err, timedOut, out.String(), tc.want)
		}
	}
}

// copyForNobody copies the binary where any user may run it: a binary the
// harness built lives in a directory only root may enter.
func copyForNobody(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "paved-nobody-bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	body, err := os.ReadFile(bin)
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "paved"), body, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "paved")
}
