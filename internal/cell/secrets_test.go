package cell

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCellSecretsKey: a cell creates DATA/secrets.key (0600) on first
// start, refuses a key file others can read with one line naming
// --secrets-key-file, and refuses a data dir another cell holds.
func TestCellSecretsKey(t *testing.T) {
	data := t.TempDir()
	cfg := Config{DataDir: data, APIAddr: "127.0.0.1:0", RouterAddr: "127.0.0.1:0", Token: "t", StopGrace: time.Second}

	loose := filepath.Join(t.TempDir(), "loose.key")
	os.WriteFile(loose, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	os.Chmod(loose, 0o640)
	bad := cfg
	bad.SecretsKeyFile = loose
	if c, err := Start(bad); err == nil {
		c.Shutdown(context.Background())
		t.Fatal("the cell started with a group-readable key file")
	} else if msg := err.Error(); !strings.HasPrefix(msg, "--secrets-key-file "+loose+": ") || strings.Contains(msg, "\n") {
		t.Fatalf("error %q: want one line naming --secrets-key-file", msg)
	}

	c, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Shutdown(context.Background()) }()
	if fi, err := os.Stat(filepath.Join(data, "secrets.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("DATA/secrets.key: %v %v", fi, err)
	}
	if c2, err := Start(cfg); err == nil {
		c2.Shutdown(context.Background())
		t.Fatal("a second cell started on a data dir in use")
	} else if !strings.Contains(err.Error(), "in use by another paved process") {
		t.Fatalf("second cell: %v", err)
	}
	c.Shutdown(context.Background())
	c, err = Start(cfg) // the lock went with the first cell
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
}
