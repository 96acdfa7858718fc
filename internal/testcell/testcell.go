// Package testcell starts real paved cells for tests outside the cell's own
// packages (the Terraform provider's acceptance tests, the e2e suite): it
// builds the paved binary once per test process and runs `paved server` on
// free loopback ports with a fresh data dir.
package testcell

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Cell is a running `paved server`.
type Cell struct {
	Endpoint   string // http://127.0.0.1:PORT
	RouterAddr string // 127.0.0.1:PORT
	Token      string
	DataDir    string
	Client     *paved.Client
	Region     string
	cmd        *exec.Cmd
	args       []string
	logPath    string
}

// Options choose how a cell starts. The zero value is region "test".
type Options struct {
	Region, Cloud string
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the paved binary: $PAVED_BIN, else one built once from source.
func Binary() (string, error) {
	buildOnce.Do(func() {
		if p := os.Getenv("PAVED_BIN"); p != "" {
			binPath = p
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "paved-testcell")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "paved")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/paved")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build paved: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start runs a cell for the test and stops it (SIGTERM) at cleanup.
func Start(t testing.TB) *Cell {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs a cell with options; it is stopped (SIGTERM) at cleanup.
func StartWith(t testing.TB, opts Options) *Cell {
	t.Helper()
	if opts.Region == "" {
		opts.Region = "test"
	}
	if opts.Cloud == "" {
		opts.Cloud = "local"
	}
	if _, err := Binary(); err != nil {
		t.Fatal(err)
	}
	api, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cell{Endpoint: "http://" + api, RouterAddr: rt, Token: "testcell-token", DataDir: t.TempDir(),
		Region: opts.Region, logPath: filepath.Join(t.TempDir(), "cell.log")}
	c.args = []string{"server", "--region", opts.Region, "--cloud", opts.Cloud, "--data", c.DataDir,
		"--api", api, "--router", rt, "--token", c.Token, "--stop-grace", "3s"}
	if c.Client, err = paved.NewClient(paved.Config{Endpoint: c.Endpoint, Token: c.Token, PollInterval: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(c.logPath); err == nil {
				t.Logf("cell %s log:\n%s", c.Region, b)
			}
		}
	})
	c.Restart(t)
	return c
}

// Restart starts the cell's process again on the same ports and data dir
// (after Kill9 or Stop) and waits until it answers.
func (c *Cell) Restart(t testing.TB) {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, c.args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.Client.Health(context.Background()); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the cell did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill9 kills the cell's process without warning, as a lost machine would.
func (c *Cell) Kill9() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
	c.cmd = nil
}

// Stop sends SIGTERM and waits (30s at most) for a clean exit.
func (c *Cell) Stop() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
	c.cmd = nil
}
