// Package e2e tests paved end to end: real `paved server` processes, real
// app processes built from examples/hello, real HTTP through the router,
// driven by the real CLI and the Go library.
package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/cli"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

var pavedBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	// $PAVED_BIN, else a build of this checkout (testcell.Build's cache).
	var err error
	if pavedBin, err = testcell.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if kubeMode() {
		if kube, err = startKube(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: the Kubernetes runtime's cluster:", err)
			os.Exit(1)
		}
		code := m.Run()
		kube.Stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// shortHash is 6 hex digits of s's sha256, for names made from long strings.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:3])
}

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// cell is one `paved server` process started by a test.
type cell struct {
	t       *testing.T
	data    string
	api     string
	router  string
	token   string
	extra   []string
	cmd     *exec.Cmd
	logPath string
	client  *paved.Client
	exited  <-chan struct{} // closed when cmd has exited
	// TLS cells (see startTLSCell): scheme "https" and the CA clients
	// trust, as a file (for --ca-cert) and as PEM. Empty for plain cells.
	scheme string
	caFile string
	caPEM  []byte
	// kubeFlags put the cell on the cluster (kube mode only), made once:
	// a restarted cell keeps its forward and namespaces.
	kubeFlags []string
}

// endpoint is the cell's API URL.
func (c *cell) endpoint() string { return c.urlScheme() + "://" + c.api }

// routerURL is the cell's router base URL.
func (c *cell) routerURL() string { return c.urlScheme() + "://" + c.router }

func (c *cell) urlScheme() string {
	if c.scheme == "" {
		return "http"
	}
	return c.scheme
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

// startCell starts a cell on fresh loopback ports and a fresh data dir and
// stops it (SIGTERM) when the test ends.
func startCell(t *testing.T, extra ...string) *cell {
	t.Helper()
	return launchCell(t, &cell{extra: extra})
}

// launchCell is startCell for a cell whose fields (extra flags, TLS) the
// caller set.
func launchCell(t *testing.T, c *cell) *cell {
	t.Helper()
	c.t, c.data, c.api, c.router, c.token = t, t.TempDir(), freeAddr(t), freeAddr(t), "test-token-"+t.Name()
	c.token = strings.NewReplacer("/", "-", " ", "-").Replace(c.token)
	c.logPath = filepath.Join(t.TempDir(), "cell.log")
	// The ports were free when picked, but another process may take one
	// before the cell binds it: then the cell is started on new ones.
	for attempt := 1; ; attempt++ {
		err := c.tryStart()
		if err == nil {
			break
		}
		if attempt == 3 || !errors.Is(err, testcell.ErrAddrInUse) {
			t.Fatal(err)
		}
		t.Logf("%v; starting it on new ports", err)
		c.api, c.router = freeAddr(t), freeAddr(t)
	}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			if b, err := os.ReadFile(c.logPath); err == nil {
				t.Logf("cell log:\n%s", tail(string(b), 60))
			}
			if kube != nil {
				t.Logf("control plane log:\n%s", tail(kube.Cluster.Logs(), 40))
				for _, n := range kube.Nodes {
					t.Logf("node %s log:\n%s", n.Name, n.LogTail(15))
				}
			}
		}
	})
	return c
}

// start starts the cell's process (again, after stop or kill9: same
// ports, same data dir) and waits until it answers.
func (c *cell) start() {
	c.t.Helper()
	if err := c.tryStart(); err != nil {
		c.t.Fatal(err)
	}
}

// tryStart is start that returns what went wrong (testcell.StartProcess:
// an early exit is reported at once, testcell.ErrAddrInUse for a taken port).
func (c *cell) tryStart() error {
	args := []string{"server", "--region", "test", "--cloud", "local", "--data", c.data,
		"--api", c.api, "--router", c.router, "--token", c.token, "--stop-grace", "3s"}
	// make test runs the suite twice: with the default isolation and with
	// PAVED_E2E_ISOLATION=none, so the unsandboxed path keeps every
	// guarantee too. A test's own --isolation (in extra) comes later and wins.
	if iso := os.Getenv("PAVED_E2E_ISOLATION"); iso != "" {
		args = append(args, "--isolation", iso)
	}
	args = append(args, c.kubeArgs()...)
	args = append(args, c.extra...)
	var err error
	c.client, err = paved.NewClient(paved.Config{Endpoint: c.endpoint(), Token: c.token, CACert: c.caPEM, PollInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	c.cmd, c.exited, err = testcell.StartProcess(pavedBin, args, c.logPath, c.client)
	return err
}

// stop sends SIGTERM and waits for a clean exit.
func (c *cell) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
		c.t.Errorf("cell did not stop within 30s of SIGTERM")
	}
	c.cmd = nil
}

// kill9 kills the cell without warning.
func (c *cell) kill9() {
	c.cmd.Process.Kill()
	<-c.exited
	c.cmd = nil
}

// paved runs the CLI against this cell in-process and returns stdout.
func (c *cell) paved(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	f := &cli.Factory{Out: &out, Err: &errOut, Version: "test"}
	root := cli.NewRootCmd(f)
	global := []string{"--endpoint", c.endpoint(), "--token", c.token}
	if c.caFile != "" {
		global = append(global, "--ca-cert", c.caFile)
	}
	root.SetArgs(append(global, args...))
	err := root.Execute()
	if err != nil {
		return out.String(), fmt.Errorf("paved %s: %w\nstderr: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func (c *cell) mustPaved(args ...string) string {
	c.t.Helper()
	out, err := c.paved(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// helloDir copies examples/hello to a temp dir so tests can change it.
func helloDir(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join(repoRoot(t), "examples", "hello")
	for _, name := range []string{"main.go", "go.mod", "Procfile"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// pushHello pushes the hello app through the CLI and waits for it.
func (c *cell) pushHello(space, app, host string, instances int, extra ...string) {
	c.t.Helper()
	c.paved("space", "create", space)
	args := append([]string{"push", helloDir(c.t), "--space", space, "--app", app,
		"--instances", fmt.Sprint(instances), "--build", "go build -o hello .", "--command", "./hello",
		"--route", host, "--health-path", "/healthz", "--timeout", "2m"}, extra...)
	c.mustPaved(args...)
}

// appShow is `paved app show --output json`, decoded.
func (c *cell) appShow(space, app string) cli.AppView {
	c.t.Helper()
	var v cli.AppView
	out := c.mustPaved("app", "show", app, "--space", space, "--output", "json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		c.t.Fatalf("app show JSON: %v\n%s", err, out)
	}
	return v
}

// get sends one request through the router with a Host header.
func (c *cell) get(client *http.Client, host, path string) (*http.Response, string, error) {
	req, _ := http.NewRequest(http.MethodGet, c.routerURL()+path, nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp, buf.String(), nil
}

// eventually retries fn until it succeeds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not true within %s: %v", what, within, err)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// processAlive tells whether a pid exists (and is not a zombie).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// groupAlive tells whether any live (non-zombie) process is left in a
// process group. kill(-pgid, 0) alone would count zombies that init has not
// reaped yet.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// Fields after the command: state ppid pgrp ...
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[0] != "Z" && f[2] == fmt.Sprint(pgid) {
			return true
		}
	}
	return false
}

// processesWithEnv lists pids whose environment has key=value.
func processesWithEnv(key, value string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	needle := []byte(key + "=" + value + "\x00")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if bytes.Contains(append(b, 0), needle) && processAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func asAPIError(err error, target **paved.APIError) bool { return errors.As(err, target) }

func httpClient() *http.Client { return &http.Client{Timeout: 5 * time.Second} }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestHarnessReportsPortTaken: a cell whose port another process holds
// exits, and the harness says so at once (which launchCell answers with new
// ports) rather than waiting out its 20 s.
func TestHarnessReportsPortTaken(t *testing.T) {
	c := startCell(t)
	c.stop()
	ln, err := net.Listen("tcp", c.api)
	if err != nil {
		t.Skipf("could not take the stopped cell's port: %v", err)
	}
	start := time.Now()
	err = c.tryStart()
	ln.Close()
	if !errors.Is(err, testcell.ErrAddrInUse) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("start on a taken port: %v, want testcell.ErrAddrInUse with the cell's words", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("noticing the exit took %v", d)
	}
	c.start() // the port is free again
}
