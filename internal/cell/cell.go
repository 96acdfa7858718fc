// Package cell wires one paved cell together: store, stager, runtime,
// health, router, deployer and API, with their listeners and a clean
// shutdown that stops every process the cell started.
package cell

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/api"
	"github.com/pavedroad/terraform-provider-paved/internal/deploy"
	"github.com/pavedroad/terraform-provider-paved/internal/environment"
	"github.com/pavedroad/terraform-provider-paved/internal/logbuf"
	"github.com/pavedroad/terraform-provider-paved/internal/peering"
	"github.com/pavedroad/terraform-provider-paved/internal/pipeline"
	"github.com/pavedroad/terraform-provider-paved/internal/router"
	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
	"github.com/pavedroad/terraform-provider-paved/internal/services"
	"github.com/pavedroad/terraform-provider-paved/internal/stager"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Config is how a cell is started (the flags of `paved server`).
type Config struct {
	Region, Cloud  string
	DataDir        string
	APIAddr        string // default 127.0.0.1:7400
	RouterAddr     string // default 127.0.0.1:7480
	Token          string // admin token; else TokenFile; else DATA/admin.token (generated on first start)
	TokenFile      string
	SecretsKeyFile string // key sealing secret values at rest; "" = DATA/secrets.key (generated on first start)
	Version        string
	MaxSourceBytes int64
	RateLimit      float64 // API requests a second per token (burst 2×); 0 = no limit
	BuildTimeout   time.Duration
	StopGrace      time.Duration
	Logger         *slog.Logger
	// RouterServer picks the router listener's server: "fast" (the
	// router's own HTTP/1.1 server, router.Server; the default) or "std"
	// (net/http's http.Server with the router as handler).
	RouterServer string
	// RouterEventLoops is the number of event loops of the fast router
	// server (Linux, plain HTTP; router.Server.EventLoops): 0 means one
	// per CPU, negative none.
	RouterEventLoops int
	// RouterResponseTimeout bounds how long the router waits for an
	// instance's response head (then 504); 0 means no limit.
	RouterResponseTimeout time.Duration
	// TLSCert and TLSKey (PEM files, both or neither) make the API and the
	// router listeners speak HTTPS only. TLSCert may hold the chain after
	// the leaf. The certificate needs a SAN for every name clients and peer
	// cells dial (e.g. IP 127.0.0.1 for a loopback cell); the cell's own
	// clients pin it instead.
	TLSCert, TLSKey string
	// PeerCACert is a PEM bundle trusted (besides the system roots) for
	// the routers of peer cells that speak TLS. Default: the certificates
	// of TLSCert, so cells whose files carry their shared CA just work.
	PeerCACert string
	// PprofAddr, when set (PAVED_PPROF), serves Go's profiles there
	// (/debug/pprof/), to requests with the admin token only (pprof.go).
	PprofAddr string
	// Isolation is IsolationAuto (""), IsolationRequired or IsolationNone:
	// whether apps, builds and pipeline tasks run sandboxed, each space as
	// its own unprivileged uid from [UIDBase, UIDBase+UIDCount) (0 means
	// DefaultUIDBase, DefaultUIDCount).
	Isolation         string
	UIDBase, UIDCount int
	// Runtime is where instances run: RuntimeProcess ("", processes on
	// this machine) or RuntimeKubernetes (pods of a cluster, Kube).
	Runtime string
	Kube    KubeConfig
}

// netServer is what the cell needs of a listener's server;
// both *http.Server and *router.Server have it.
type netServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Cell is a running cell.
type Cell struct {
	cfg       Config
	log       *slog.Logger
	store     *store.SQLite
	runtime   *runtime.ProcessDriver // builds' and tasks' limits; the instances' runtime unless instances says otherwise
	instances runtime.Runtime
	router    *router.Router
	deployer  *deploy.Deployer
	peers     *peering.Watcher
	pipelines *pipeline.Engine
	services  *services.Manager
	apiSrv    *http.Server
	routerSrv netServer
	apiLn     net.Listener
	routerLn  net.Listener
	pprofSrv  *http.Server // nil without PprofAddr
	pprofLn   net.Listener
	cancel    context.CancelFunc
	// TokenPath is where a generated admin token was written ("" if given).
	TokenPath string
	token     string
	tls       *cellTLS    // nil: plain HTTP
	peerTLS   *tls.Config // for peer routers that speak TLS
}

// Start opens the data dir, kills processes a previous run left behind,
// and starts serving. It returns once both listeners are bound.
func Start(cfg Config) (*Cell, error) {
	if cfg.APIAddr == "" {
		cfg.APIAddr = "127.0.0.1:7400"
	}
	if cfg.RouterAddr == "" {
		cfg.RouterAddr = "127.0.0.1:7480"
	}
	switch cfg.RouterServer {
	case "":
		cfg.RouterServer = "fast"
	case "fast", "std":
	default:
		return nil, fmt.Errorf("router server %q: want fast or std", cfg.RouterServer)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("--data is required: the directory that holds the cell's state")
	}
	// TLS files are checked before the data dir is touched: a typo must
	// not leave a half-started cell.
	if err := validateRuntime(cfg); err != nil {
		return nil, err
	}
	ct, err := newCellTLS(cfg)
	if err != nil {
		return nil, err
	}
	ptls, err := peerTLS(cfg)
	if err != nil {
		return nil, err
	}
	// The cell's files are its user's alone (files.go): the data dir 0700,
	// the database files and the admin token 0600.
	if err := privateDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	c := &Cell{cfg: cfg, log: cfg.Logger, tls: ct, peerTLS: ptls}
	if cfg.TLSKey != "" {
		tightenSecretFile(c.log, "--tls-key", cfg.TLSKey)
	}
	if err := c.loadToken(); err != nil {
		return nil, err
	}
	if err := privateStoreFiles(cfg.DataDir); err != nil {
		return nil, err
	}
	if c.store, err = store.OpenWith(cfg.DataDir, store.Options{SecretsKeyFile: cfg.SecretsKeyFile}); err != nil {
		return nil, err
	}
	// Opening made the -wal and -shm files (with paved.db's mode) and any
	// key file; an older cell's may be looser.
	for _, name := range append(storeFiles[1:], "secrets.key") {
		if err := makePrivate(filepath.Join(cfg.DataDir, name), privateFileMode); err != nil {
			c.store.Close()
			return nil, err
		}
	}
	if err := c.start(); err != nil {
		c.store.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cell) start() error {
	// Processes of a previous run of this data dir (after kill -9) carry
	// its cell id; none may survive into this run.
	if n, err := runtime.SweepOrphans(c.store.CellID()); err != nil {
		c.log.Warn("orphan sweep", "err", err)
	} else if n > 0 {
		c.log.Info("killed processes left by a previous run", "count", n)
	}
	jail, iso, why, err := c.isolation()
	if err != nil {
		return err
	}
	if why != "" {
		c.log.Warn("apps, builds and pipeline tasks are not isolated", "reason", why)
	}
	st, err := stager.New(c.store, stager.Options{DataDir: c.cfg.DataDir, Timeout: c.cfg.BuildTimeout, Jail: jail})
	if err != nil {
		return err
	}
	logs := logbuf.New(0)
	c.router = router.New(router.Options{Logger: c.log, Region: c.cfg.Region, PeerTLS: c.peerTLS,
		ResponseHeaderTimeout: c.cfg.RouterResponseTimeout})
	// The runtimes report to the deployer, which needs a runtime to be
	// made: reports that come before it exists (a Kubernetes runtime's
	// first sync) are dropped, and the deployer adopts what Runtime.List
	// reports when it starts.
	var d *deploy.Deployer
	var deployer atomic.Pointer[deploy.Deployer]
	onLog := func(l runtime.LogLine) {
		if d := deployer.Load(); d != nil {
			d.OnLog(l)
		}
	}
	onState := func(s runtime.InstanceStatus) {
		if d := deployer.Load(); d != nil {
			d.OnInstanceState(s)
		}
	}
	c.peers = peering.New(peering.Options{Records: c.store, Region: c.cfg.Region, TLS: c.peerTLS,
		OnChange: func() { d.Republish() }, Logger: c.log.With("component", "peering")})
	c.runtime, err = runtime.NewProcessDriver(runtime.ProcessOptions{
		CellID:    c.store.CellID(),
		Dir:       filepath.Join(c.cfg.DataDir, "runtime"),
		OnLog:     onLog,
		OnState:   onState,
		Logger:    c.log,
		Isolation: iso,
	})
	if err != nil {
		return err
	}
	if jail != nil {
		jail.Limits = c.runtime.JobLimits // builds and tasks get the instances' pids limit
	}
	c.instances = c.runtime
	archives, err := c.dropletArchives(st)
	if err != nil {
		return err
	}
	if c.cfg.Runtime == RuntimeKubernetes {
		if c.instances, err = c.kubeRuntime(archives, onLog, onState); err != nil {
			return err
		}
	}
	envs := &environment.Manager{Store: c.store, Logger: c.log.With("component", "environments"),
		DropletsDir: filepath.Join(c.cfg.DataDir, "droplets"), Scheme: c.Scheme()}
	// A binding made or deleted gives its app a new release (VCAP_SERVICES).
	c.services = services.New(services.Options{Store: c.store, CellID: c.store.CellID(), Logger: c.log,
		BindingsChanged: func(space, app string) {
			if err := c.store.TouchApp(context.Background(), "cell", space, app, "service bindings changed"); err != nil {
				c.log.Warn("give an app its new service bindings", "app", space+"/"+app, "err", err)
				return
			}
			if d := deployer.Load(); d != nil {
				d.Notify(space, app)
			}
		}})
	d = deploy.New(deploy.Options{
		ServiceEnv: c.services.ServiceEnv,
		Store:      c.store, Stager: st, Runtime: c.instances, Router: c.router, Logs: logs,
		Logger: c.log, StopGrace: c.cfg.StopGrace,
		Region: c.cfg.Region, Cloud: c.cfg.Cloud, VolumesDir: filepath.Join(c.cfg.DataDir, "volumes"),
		SpaceUID:     c.isolatedUID(iso),
		GlobalRoutes: c.peers.Routes,
		Gated: func(space, app string) bool {
			ps, err := c.store.ListPipelines(context.Background(), space)
			if err != nil {
				return false
			}
			for _, p := range ps {
				for _, src := range p.Spec.Sources {
					if src.Type == paved.SourceAppRelease && src.Gate && src.App == app {
						return true
					}
				}
			}
			return false
		},
		OnGood: func(space, reason string) {
			if _, err := envs.Snapshot(context.Background(), space, reason); err != nil {
				c.log.Error("snapshot", "space", space, "err", err)
			}
		},
	})
	envs.Deployer = d
	c.deployer = d
	deployer.Store(d)

	if c.apiLn, err = net.Listen("tcp", c.cfg.APIAddr); err != nil {
		return fmt.Errorf("API address %s: %w", c.cfg.APIAddr, err)
	}
	if c.routerLn, err = net.Listen("tcp", c.cfg.RouterAddr); err != nil {
		c.apiLn.Close()
		return fmt.Errorf("router address %s: %w", c.cfg.RouterAddr, err)
	}
	if c.tls != nil {
		// HTTPS only on both: a plain-HTTP client gets a failed handshake
		// (net/http answers its request with a 400), never service.
		c.apiLn = tls.NewListener(c.apiLn, c.tls.serverConfig())
		c.routerLn = tls.NewListener(c.routerLn, c.tls.serverConfig())
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	// From here on a failure must undo what started: listeners, controllers
	// and any app process they launched.
	fail := func(err error) error {
		cancel()
		if c.apiSrv != nil {
			c.apiSrv.Close()
			c.routerSrv.Close()
		}
		c.apiLn.Close()
		c.routerLn.Close()
		if c.pprofSrv != nil {
			c.pprofSrv.Close()
		}
		d.Wait()
		if serr := c.stopRuntimes(context.Background(), time.Second); serr != nil {
			c.log.Warn("stop the instances started", "err", serr)
		}
		return err
	}
	if err := d.Start(ctx); err != nil {
		return fail(err)
	}
	c.peers.Reload()
	go c.peers.Run(ctx)
	selfCfg := paved.Config{Endpoint: c.Scheme() + "://" + c.apiLn.Addr().String(), Token: c.token, UserAgent: "paved-pipeline"}
	var selfHTTP *http.Client // nil: the library's default, plain HTTP
	if c.tls != nil {
		selfHTTP = c.tls.selfClient()
		selfCfg.HTTPClient = selfHTTP
	}
	self, err := paved.NewClient(selfCfg)
	if err != nil {
		return fail(err)
	}
	c.pipelines = pipeline.New(pipeline.Options{Store: c.store, DataDir: c.cfg.DataDir, Client: self,
		RouterAddr: c.routerLn.Addr().String(), RouterTLS: c.tls != nil, RouterClient: selfHTTP,
		Logger: c.log.With("component", "pipelines"), Promote: d.Promote, Jail: jail})
	apiHandler := api.New(api.Options{
		Services: c.services,
		Store:    c.store, Deployer: d, Stager: st, Logs: logs, Logger: c.log, Token: c.token,
		Region: c.cfg.Region, Cloud: c.cfg.Cloud, Version: c.cfg.Version,
		RouterAddr: c.routerLn.Addr().String(), TLS: c.tls != nil, MaxSourceBytes: c.cfg.MaxSourceBytes, RateLimit: c.cfg.RateLimit,
		MemoryLimits: c.instances.MemoryLimits, Isolation: func() paved.Isolation { return isolationReport(c.instances.Isolation(), why) },
		Runtime: c.instances.Info, Droplets: archives,
		Pipelines: c.pipelines, NewToken: pipeline.NewToken, Environments: envs,
		GlobalRoutes: c.peers,
	})
	c.apiSrv = &http.Server{Handler: apiHandler, ReadHeaderTimeout: 10 * time.Second}
	if c.cfg.RouterServer == "std" {
		c.routerSrv = &http.Server{Handler: c.router, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second}
	} else {
		c.routerSrv = &router.Server{Router: c.router, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second,
			EventLoops: max(c.cfg.RouterEventLoops, 0), DisableEventLoop: c.cfg.RouterEventLoops < 0}
	}
	go c.serve(c.apiSrv, c.apiLn, "api")
	go c.serve(c.routerSrv, c.routerLn, "router")
	if err := c.startPprof(); err != nil {
		return fail(err)
	}
	if err := c.pipelines.Start(ctx); err != nil {
		return fail(err)
	}
	if err := c.services.Start(ctx); err != nil {
		return fail(err)
	}
	go envs.Janitor(ctx, time.Second)
	return nil
}

func (c *Cell) serve(srv netServer, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		c.log.Error("listener failed", "listener", name, "err", err)
	}
}

// loadToken picks the admin token: --token, else --token-file, else the
// data dir's admin.token, generating that file (mode 0600) on first start.
// A --token-file others can read is made private first (files.go), and so
// is an admin.token an older cell left readable, used or not.
func (c *Cell) loadToken() error {
	path := filepath.Join(c.cfg.DataDir, "admin.token")
	if err := makePrivate(path, privateFileMode); err != nil {
		return err
	}
	switch {
	case c.cfg.Token != "":
		c.token = c.cfg.Token
		return nil
	case c.cfg.TokenFile != "":
		tightenSecretFile(c.log, "--token-file", c.cfg.TokenFile)
		b, err := os.ReadFile(c.cfg.TokenFile)
		if err != nil {
			return fmt.Errorf("read --token-file: %w", err)
		}
		if c.token = strings.TrimSpace(string(b)); c.token == "" {
			return fmt.Errorf("--token-file %s is empty", c.cfg.TokenFile)
		}
		return nil
	}
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) != "" {
		c.token = strings.TrimSpace(string(b))
		return nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	c.token = "pvd_" + hex.EncodeToString(buf)
	if err := writePrivateFile(path, []byte(c.token+"\n")); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	c.TokenPath = path
	return nil
}

// APIAddr and RouterAddr are the bound addresses (useful with port 0).
func (c *Cell) APIAddr() string    { return c.apiLn.Addr().String() }
func (c *Cell) RouterAddr() string { return c.routerLn.Addr().String() }

// Token is the admin token in force.
func (c *Cell) Token() string { return c.token }

// MemoryLimits reports whether memory_mb is enforced here.
func (c *Cell) MemoryLimits() (bool, string) { return c.instances.MemoryLimits() }

// Shutdown stops accepting requests, stops the controllers and then every
// app process (SIGTERM, grace, SIGKILL), and closes the store.
func (c *Cell) Shutdown(ctx context.Context) error {
	c.cancel() // stops the controllers and the pipelines; running builds end as errored
	c.pipelines.Wait()
	if c.services != nil {
		c.services.Stop() // operations under way resume at the next start
	}
	// Connections still open when ctx ends are cut by the stops below.
	if err := c.apiSrv.Shutdown(ctx); err != nil {
		c.log.Warn("API server shutdown", "err", err)
	}
	if err := c.routerSrv.Shutdown(ctx); err != nil {
		c.log.Warn("router shutdown", "err", err)
	}
	if c.pprofSrv != nil {
		c.pprofSrv.Close() // a CPU profile being taken is cut short, not waited for
	}
	c.deployer.Wait()
	grace := c.cfg.StopGrace
	if grace == 0 {
		grace = 10 * time.Second
	}
	err := c.stopRuntimes(ctx, grace)
	c.router.Close()
	if cerr := c.store.Close(); err == nil {
		err = cerr
	}
	return err
}
