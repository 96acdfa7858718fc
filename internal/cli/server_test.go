package cli

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the server tests run this test binary as `paved`.
func TestMain(m *testing.M) {
	if os.Getenv("PAVED_CLI_TEST_AS_PAVED") == "1" {
		os.Exit(Main("test", os.Args[1:]))
	}
	os.Exit(m.Run())
}

// startServer runs `paved server ARGS…` as a process and returns what it
// wrote to stderr up to its "cell started" line; it stops the cell after.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"server", "--data", filepath.Join(t.TempDir(), "data"),
		"--api", "127.0.0.1:0", "--router", "127.0.0.1:0", "--stop-grace", "1s"}, args...)...)
	cmd.Env = append(os.Environ(), "PAVED_CLI_TEST_AS_PAVED=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out strings.Builder
	timeout := time.After(time.Minute)
	for started := false; !started; {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("paved server ended before it started:\n%s", out.String())
			}
			out.WriteString(l + "\n")
			started = strings.Contains(l, "cell started")
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("paved server did not start in a minute:\n%s", out.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for range lines { // drain until it exits
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("paved server: %v\n%s", err, out.String())
	}
	return out.String()
}

// TestServerWarnsOfTokenOnCommandLine: `paved server --token X` warns on
// stderr at start that local users can read the command line and points to
// --token-file; --token-file starts without the warning.
func TestServerWarnsOfTokenOnCommandLine(t *testing.T) {
	out := startServer(t, "--token", "cmdline-token-0123")
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "any local user can read it") || !strings.Contains(out, "--token-file") {
		t.Errorf("no warning about --token at start:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("file-token-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := startServer(t, "--token-file", file); strings.Contains(out, "any local user can read it") {
		t.Errorf("a warning with --token-file:\n%s", out)
	}
}
