package cli

// A real cell for the run-function tests: `paved server` as a process on
// loopback ports with a fresh data dir and no isolation, and a tiny HTTP
// app to push to it. Both are this test binary (server_test.go's TestMain
// runs it as `paved` when PAVED_CLI_TEST_AS_PAVED=1; init below runs it as
// the app when CLI_TEST_RUN_AS_APP=1), so nothing has to be built; set
// PAVED_BIN to run the cell from a built paved binary instead.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// appEnv marks an instance of the test app (see serveTestApp).
const appEnv = "CLI_TEST_RUN_AS_APP"

func init() {
	if os.Getenv(appEnv) == "1" {
		serveTestApp()
		os.Exit(0)
	}
}

// serveTestApp is the app the run tests push: it answers HTTP on $PORT,
// "ok" on /healthz and "$GREETING from $PAVED_INSTANCE" elsewhere, and
// prints a line when it starts, for the logs.
func serveTestApp() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "test app:", err)
		os.Exit(1)
	}
	greeting := os.Getenv("GREETING")
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%s from %s\n", greeting, os.Getenv("PAVED_INSTANCE"))
	})
	fmt.Printf("test app says %q on %s\n", greeting, ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		srv.Close()
	}()
	srv.Serve(ln)
}

// testCell is one `paved server` process started by a test.
type testCell struct {
	t        *testing.T
	endpoint string // http://127.0.0.1:PORT
	router   string // 127.0.0.1:PORT
	token    string // the admin token
	client   *paved.Client
	logPath  string
}

// startCell starts a cell for the test and stops it (SIGTERM) at cleanup,
// showing its log when the test failed.
func startCell(t *testing.T) *testCell {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	c := &testCell{t: t, token: "cli-test-admin-token-0123456789", logPath: filepath.Join(dir, "cell.log")}
	if err := os.WriteFile(tokenFile, []byte(c.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin, pre := os.Getenv("PAVED_BIN"), []string(nil)
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		// env(1) execs the test binary in the same process, so the
		// signals StartProcess's caller sends reach the cell itself.
		if bin, err = exec.LookPath("env"); err != nil {
			t.Fatal(err)
		}
		pre = []string{"PAVED_CLI_TEST_AS_PAVED=1", exe}
	}
	var (
		cmd    *exec.Cmd
		exited <-chan struct{}
		err    error
	)
	for attempt := 1; ; attempt++ {
		api, rt := freeAddr(t), freeAddr(t)
		c.endpoint, c.router = "http://"+api, rt
		c.client, err = paved.NewClient(paved.Config{Endpoint: c.endpoint, Token: c.token, PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		args := append(pre, "server", "--region", "test", "--cloud", "local", "--data", filepath.Join(dir, "data"),
			"--api", api, "--router", rt, "--token-file", tokenFile, "--isolation", "none", "--stop-grace", "1s",
			"--router-event-loops", "-1")
		cmd, exited, err = testcell.StartProcess(bin, args, c.logPath, c.client)
		if err == nil {
			break
		}
		if attempt == 3 || !errors.Is(err, testcell.ErrAddrInUse) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("the cell did not stop within 30s of SIGTERM")
		}
		if t.Failed() {
			if b, err := os.ReadFile(c.logPath); err == nil {
				t.Logf("cell log:\n%s", lastLines(string(b), 60))
			}
		}
	})
	return c
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// result is what one CLI run wrote and returned.
type result struct {
	out, err string
	runErr   error
}

// run runs `paved ARGS…` in-process against the cell with the admin token.
func (c *testCell) run(args ...string) result {
	return c.runAs(c.token, args...)
}

// runAs runs `paved ARGS…` against the cell with token.
func (c *testCell) runAs(token string, args ...string) result {
	return runCLI(context.Background(), append([]string{"--endpoint", c.endpoint, "--token", token}, args...)...)
}

// runCLI runs the real command tree with ARGS, as Main does, with its
// output in buffers.
func runCLI(ctx context.Context, args ...string) result {
	var out, errOut bytes.Buffer
	root := NewRootCmd(&Factory{Out: &out, Err: &errOut, Version: "test"})
	root.SetArgs(args)
	root.SetOut(&errOut) // cobra's own usage and help
	root.SetErr(&errOut)
	err := root.ExecuteContext(ctx)
	return result{out: out.String(), err: errOut.String(), runErr: err}
}

// ok runs `paved ARGS…` and fails the test unless it succeeded; it
// returns stdout.
func (c *testCell) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.runErr != nil {
		c.t.Fatalf("paved %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.runErr, r.out, r.err)
	}
	return r.out
}

// fails runs `paved ARGS…`, fails the test unless it failed, and returns
// the result.
func (c *testCell) fails(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.runErr == nil {
		c.t.Fatalf("paved %s succeeded, want an error\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.out, r.err)
	}
	return r
}

// get sends GET path through the cell's router with a Host header and
// returns the status and body.
func (c *testCell) get(host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+c.router+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), err
}

// eventually polls fn until it returns nil or within has passed.
func eventually(t *testing.T, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appDir is a source directory for the test app: a Procfile whose web:
// line starts this test binary as the app (the app's env must carry
// appEnv=1, which pushApp sets).
func appDir(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Procfile"), []byte("web: exec "+exe+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("the paved CLI's test app\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
