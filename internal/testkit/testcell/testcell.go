// Package testcell starts real paved cells for tests and benchmarks outside
// the cell's own packages (the provider's acceptance tests, the terratest
// suites, the benchmarks): it builds the paved binary once per process and
// runs `paved server` on free loopback ports with a fresh data dir. A cell
// can be killed (-9, as a lost machine) and restarted on the same ports and
// data, which is what failover tests need.
package testcell

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
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

// Cell is a `paved server` process.
type Cell struct {
	Endpoint   string // http://127.0.0.1:PORT (https:// with Options.TLS)
	RouterAddr string // 127.0.0.1:PORT
	Token      string
	DataDir    string
	LogPath    string
	Region     string
	Client     *paved.Client
	// TLS is set when the cell's API and router speak HTTPS only; CACert
	// is then the PEM the cell's certificate chains to (give it to clients
	// as paved.Config.CACert, a provider's ca_cert, or `paved --ca-cert`),
	// and CACertFile the file holding it.
	TLS        bool
	CACert     []byte
	CACertFile string
	cmd        *exec.Cmd
	exited     <-chan struct{} // closed when cmd has exited (its Wait returned)
	args       []string
}

// Options choose how a cell starts. The zero value is region "test" in a
// temporary data dir.
type Options struct {
	Region, Cloud string
	// Dir holds the data dir and the log; default a new temporary dir
	// (tests get t.TempDir()).
	Dir string
	// TLS starts the cell with HTTPS on the API and the router: a CA and a
	// certificate for 127.0.0.1, ::1 and localhost are generated into
	// Dir/tls, and Cell.Endpoint and Cell.Client use https and trust the CA.
	TLS bool
	// CA, with TLS, signs the certificate instead of a new CA: cells
	// sharing one CA trust each other's routers as replica-set peers.
	CA *TestCA
	// Args, when set, gives more `paved server` flags once the API's
	// address is known (kubetest.Env.CellArgs needs it).
	Args func(apiAddr string) ([]string, error)
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
		root := filepath.Join(filepath.Dir(file), "..", "..", "..") // the repository, from internal/testkit/testcell
		binPath, buildErr = Build(root, "./cmd/paved", "paved")
	})
	return binPath, buildErr
}

// Build builds the command in pkg (relative to the module at dir) into
// the user's cache (paved/testbin/CHECKOUT/NAME), not a temporary
// directory: a test binary has no hook to remove one after its last test,
// and each run would leave a copy behind. CHECKOUT is a hash of dir, so
// two checkouts never run each other's build; the rename is atomic, so a
// concurrent test package of the same checkout keeps the file it runs.
func Build(dir, pkg, name string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(filepath.Clean(abs)))
	out := filepath.Join(cache, "paved", "testbin", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(out, name+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-o", tmp.Name(), pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", name, err, b)
	}
	bin := filepath.Join(out, name)
	return bin, os.Rename(tmp.Name(), bin)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Launch starts a cell and waits until it answers. The caller stops it.
func Launch(opts Options) (*Cell, error) {
	if opts.Region == "" {
		opts.Region = "test"
	}
	if opts.Cloud == "" {
		opts.Cloud = "local"
	}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "paved-cell-"+opts.Region)
		if err != nil {
			return nil, err
		}
		opts.Dir = dir
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	// The ports are free when picked, but another process may take one
	// before the cell binds it: a cell that exits because an address is
	// in use is started again on new ports.
	for attempt := 1; ; attempt++ {
		c, err := launchOn(opts)
		if err == nil || attempt == 3 || !errors.Is(err, ErrAddrInUse) {
			return c, err
		}
	}
}

func launchOn(opts Options) (*Cell, error) {
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	rt, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c := &Cell{Endpoint: "http://" + api, RouterAddr: rt, Token: "testcell-token", Region: opts.Region,
		DataDir: filepath.Join(opts.Dir, "data"), LogPath: filepath.Join(opts.Dir, "cell.log")}
	c.args = []string{"server", "--region", opts.Region, "--cloud", opts.Cloud, "--data", c.DataDir,
		"--api", api, "--router", rt, "--token", c.Token, "--stop-grace", "3s"}
	if opts.Args != nil {
		more, err := opts.Args(api)
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, more...)
	}
	cfg := paved.Config{Token: c.Token, PollInterval: 100 * time.Millisecond}
	if opts.TLS {
		ca := opts.CA
		if ca == nil {
			if ca, err = NewTestCA(); err != nil {
				return nil, err
			}
		}
		files, err := ca.WriteFiles(filepath.Join(opts.Dir, "tls"))
		if err != nil {
			return nil, err
		}
		c.Endpoint, c.TLS, c.CACert, c.CACertFile = "https://"+api, true, files.CAPEM, files.CA
		c.args = append(c.args, "--tls-cert", files.Cert, "--tls-key", files.Key)
		cfg.CACert = files.CAPEM
	}
	cfg.Endpoint = c.Endpoint
	if c.Client, err = paved.NewClient(cfg); err != nil {
		return nil, err
	}
	return c, c.Start()
}

// Start starts the cell's process (again, after Kill9 or Stop: same ports,
// same data dir) and waits up to 20 s until it answers.
func (c *Cell) Start() error {
	if c.cmd != nil {
		return errors.New("testcell: the cell is running")
	}
	bin, err := Binary()
	if err != nil {
		return err
	}
	cmd, exited, err := StartProcess(bin, c.args, c.LogPath, c.Client)
	if err != nil {
		return fmt.Errorf("cell %s: %w", c.Region, err)
	}
	c.cmd, c.exited = cmd, exited
	return nil
}

// Kill9 kills the cell's process without warning, as a lost machine would.
func (c *Cell) Kill9() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Kill() // fails only when it has exited
	<-c.exited
	c.cmd = nil
}

// Stop sends SIGTERM and waits (30 s at most, then SIGKILL) for the exit.
func (c *Cell) Stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM) // fails only when it has exited
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

// Start runs a cell (region "test") for the test; it stops at cleanup.
func Start(t testing.TB) *Cell {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs a cell for the test; it is stopped (SIGTERM) at cleanup,
// and its log is shown when the test failed.
func StartWith(t testing.TB, opts Options) *Cell {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	c, err := Launch(opts)
	if c != nil {
		t.Cleanup(func() {
			c.Stop()
			if t.Failed() {
				if b, err := os.ReadFile(c.LogPath); err == nil {
					t.Logf("cell %s log:\n%s", c.Region, b)
				}
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Restart starts the cell again after Kill9 or Stop, failing the test if
// it does not come back.
func (c *Cell) Restart(t testing.TB) {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
}

// Attach returns a Cell for a cell that is already running (started by an
// earlier test run that kept it), which the caller does not own: Stop and
// Kill9 do nothing to it.
func Attach(endpoint, routerAddr, token string) (*Cell, error) {
	c := &Cell{Endpoint: endpoint, RouterAddr: routerAddr, Token: token}
	var err error
	if c.Client, err = paved.NewClient(paved.Config{Endpoint: endpoint, Token: token, PollInterval: 100 * time.Millisecond}); err != nil {
		return nil, err
	}
	h, err := c.Client.Health(context.Background())
	if err != nil {
		return nil, fmt.Errorf("the kept cell at %s does not answer: %w", endpoint, err)
	}
	c.Region = h.Region
	return c, nil
}

// RouterURL is the router's base URL: http://ADDR, or https://ADDR for a
// TLS cell.
func (c *Cell) RouterURL() string {
	return paved.RouterURL(c.RouterAddr, c.TLS)
}

// HTTPClient is a client for requests through the router: a plain one, or
// one that trusts the cell's CA for a TLS cell.
func (c *Cell) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.TLS {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(c.CACert)
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// PID is the cell process's id (0 when it is not running or not ours).
func (c *Cell) PID() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}
