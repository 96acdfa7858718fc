package cell

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

// TestCellFilesArePrivate: with a umask that hides nothing, a new cell
// makes its data dir 0700 and its database files and generated token 0600;
// a data dir an older cell left open is tightened on the next start, and so
// are a --token-file and a --tls-key that others could read.
func TestCellFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	start := func(cfg Config) *Cell {
		t.Helper()
		cfg.DataDir, cfg.APIAddr, cfg.RouterAddr, cfg.StopGrace = data, "127.0.0.1:0", "127.0.0.1:0", time.Second
		c, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	private := []string{"paved.db", "paved.db-wal", "paved.db-shm", "admin.token"}
	c := start(Config{})
	if c.TokenPath != filepath.Join(data, "admin.token") {
		t.Fatalf("TokenPath = %q", c.TokenPath)
	}
	wantMode(t, data, 0o700)
	for _, name := range private {
		wantMode(t, filepath.Join(data, name), 0o600)
	}
	c.Shutdown(context.Background())

	// What an older cell left behind (or someone loosened) is tightened.
	os.Chmod(data, 0o755)
	for _, name := range private {
		os.Chmod(filepath.Join(data, name), 0o644)
	}
	os.WriteFile(filepath.Join(data, "paved.db-wal"), nil, 0o666) // a WAL file after a clean close
	tlsFiles, err := testcell.WriteTLSFiles(filepath.Join(root, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(tlsFiles.Key, 0o644)
	tokenFile := filepath.Join(root, "token")
	os.WriteFile(tokenFile, []byte("file-token\n"), 0o644)
	c = start(Config{TokenFile: tokenFile, TLSCert: tlsFiles.Cert, TLSKey: tlsFiles.Key})
	defer c.Shutdown(context.Background())
	if c.Token() != "file-token" {
		t.Fatalf("token %q", c.Token())
	}
	wantMode(t, data, 0o700)
	for _, name := range private {
		wantMode(t, filepath.Join(data, name), 0o600)
	}
	wantMode(t, tokenFile, 0o600)
	wantMode(t, tlsFiles.Key, 0o600)
}

// A data dir or database file that belongs to another user stops the cell
// with an error that says so.
func TestCellRefusesFilesOfAnotherUser(t *testing.T) {
	data := t.TempDir()
	defer func(f func() int) { cellUID = f }(cellUID)
	cellUID = func() int { return os.Geteuid() + 1 }
	c, err := Start(Config{DataDir: data, APIAddr: "127.0.0.1:0", RouterAddr: "127.0.0.1:0", Token: "t"})
	if err == nil {
		c.Shutdown(context.Background())
		t.Fatal("the cell started on a data dir of another user")
	}
	if !strings.Contains(err.Error(), "not to the user the cell runs as") {
		t.Fatalf("error %q", err)
	}
}
