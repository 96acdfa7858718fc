package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/internal/cell"
	"github.com/pavedroad/terraform-provider-paved/internal/router"
)

// ServerOptions are the flags of `paved server`.
type ServerOptions struct {
	f      *Factory
	Config cell.Config
	LogFmt string
}

// NewCmdServer is `paved server`: run one cell in the foreground.
func NewCmdServer(f *Factory, runF func(*ServerOptions) error) *cobra.Command {
	opts := &ServerOptions{f: f}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a cell: the API, the router and the apps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runServer(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	c := &opts.Config
	fl.StringVar(&c.Region, "region", "local", "region name of this cell")
	fl.StringVar(&c.Cloud, "cloud", "local", "cloud label of this cell (aws, gcp, onprem, …)")
	fl.StringVar(&c.DataDir, "data", "", "data directory (state, sources, droplets, logs); required")
	fl.StringVar(&c.SecretsKeyFile, "secrets-key-file", "", "file holding the key that encrypts secret values at rest: 64 hex digits (openssl rand -hex 32), mode 0600 (default: DATA/secrets.key, generated on first start)")
	fl.StringVar(&c.APIAddr, "api", "127.0.0.1:7400", "API listen address")
	fl.StringVar(&c.RouterAddr, "router", "127.0.0.1:7480", "router listen address")
	fl.StringVar(&c.RouterServer, "router-server", "fast", "router HTTP server: fast (the router's own HTTP/1.1 server) or std (net/http)")
	fl.IntVar(&c.RouterEventLoops, "router-event-loops", 0, "event loops of the fast router server on Linux (plain HTTP): 0 = one per CPU, -1 = none (a goroutine per connection)")
	fl.StringVar(&c.Token, "token", "", "admin token; visible to every local user in the process list, prefer --token-file (default: --token-file, else DATA/admin.token, generated on first start)")
	fl.StringVar(&c.TokenFile, "token-file", "", "file holding the admin token (made mode 0600 if others can read it)")
	fl.Int64Var(&c.MaxSourceBytes, "max-source-bytes", 256<<20, "largest source archive accepted")
	fl.Float64Var(&c.RateLimit, "rate-limit", 200, "API requests a second each token may send (the admin token too), with a burst of twice that; 0 = no limit")
	fl.DurationVar(&c.BuildTimeout, "build-timeout", 10*time.Minute, "time limit of one build")
	fl.DurationVar(&c.StopGrace, "stop-grace", 10*time.Second, "SIGTERM→SIGKILL grace when stopping instances")
	fl.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) for HTTPS on the API and the router; needs --tls-key and a SAN for every name clients and peers dial")
	fl.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.StringVar(&c.PeerCACert, "peer-ca-cert", "", "PEM bundle trusted for peer cells' HTTPS routers (default: the certificates in --tls-cert)")
	fl.DurationVar(&c.RouterResponseTimeout, "router-response-timeout", time.Minute,
		"how long the router waits for an instance to start answering (its response head) before it answers 504; 0 = no limit (like nginx's proxy_read_timeout)")
	fl.StringVar(&c.Isolation, "isolation", cell.IsolationAuto, "how apps, builds and pipeline tasks are isolated: auto (sandboxed as each space's own uid when the host allows, said in /v1/health), required (refuse to start without), none (as the cell's own processes, warned at start)")
	fl.IntVar(&c.UIDBase, "isolation-uid-base", cell.DefaultUIDBase, "first uid given to a space's sandboxes (each space gets its own, allocated once)")
	fl.IntVar(&c.UIDCount, "isolation-uid-count", cell.DefaultUIDCount, "number of uids from --isolation-uid-base spaces may get")
	fl.StringVar(&c.Runtime, "runtime", cell.RuntimeProcess, "where instances run: process (processes on this machine) or kubernetes (pods of a cluster; see the --kube-* flags)")
	fl.StringVar(&c.Kube.Kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster (--runtime kubernetes; default: the in-cluster config of the cell's pod)")
	fl.StringVar(&c.Kube.Context, "kube-context", "", "context of --kubeconfig to use (default: its current context)")
	fl.StringVar(&c.Kube.NamespacePrefix, "kube-namespace-prefix", "paved-", "prefix of the namespace of each space")
	fl.StringVar(&c.Kube.StackImage, "kube-stack-image", "", "image instances run in; it must hold /bin/sh and the paved binary (required with --runtime kubernetes)")
	fl.StringVar(&c.Kube.CellURL, "kube-cell-url", "", "this cell's API URL as pods reach it, from which they download droplets (required with --runtime kubernetes)")
	fl.DurationVar(&c.Kube.EvictionAfter, "kube-eviction-after", 30*time.Second, "how long pods stay on a node that is not ready or unreachable before they are replaced on another")
	fl.StringSliceVar(&c.Kube.FetchCommand, "kube-fetch-command", nil, "command of the init container that downloads the droplet (default paved,droplet,fetch)")
	fl.StringVar(&opts.LogFmt, "log-format", "text", "cell log format: text or json")
	cmd.MarkFlagRequired("data")
	cmd.AddCommand(NewCmdRotateKey(f, nil))
	return cmd
}

// reserveLoopProcs gives the Go runtime one P more than the router's event
// loops (one per CPU by default), so that a loop waiting in epoll_wait
// keeps its P (see router.DefaultEventLoops): about 10% more router
// throughput on 2 cores. GOMAXPROCS in the environment still wins; the
// loops run for plain-HTTP routers on Linux only.
func reserveLoopProcs(c *cell.Config) {
	if os.Getenv("GOMAXPROCS") != "" || runtime.GOOS != "linux" || c.RouterEventLoops < 0 ||
		c.RouterServer == "std" || c.TLSCert != "" {
		return
	}
	if c.RouterEventLoops == 0 {
		c.RouterEventLoops = router.DefaultEventLoops()
	}
	if runtime.GOMAXPROCS(0) <= c.RouterEventLoops {
		runtime.GOMAXPROCS(c.RouterEventLoops + 1)
	}
}

// tokenFlagWarning is logged when the admin token is on the command line.
const tokenFlagWarning = "--token puts the admin token on the command line, where any local user can read it (ps, /proc/PID/cmdline); " +
	"keep it in a file only the cell's user can read and pass --token-file instead"

// serverGCPercent trades memory for CPU in the cell: the router allocates
// per request, and a cell's heap is small (tens of MiB), so collecting less
// often buys throughput cheaply. GOGC in the environment still wins.
const serverGCPercent = 400

func runServer(ctx context.Context, opts *ServerOptions) error {
	if opts.LogFmt != "text" && opts.LogFmt != "json" {
		return fmt.Errorf("--log-format %q: use text or json", opts.LogFmt)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	reserveLoopProcs(&opts.Config)
	var h slog.Handler = slog.NewTextHandler(opts.f.Err, nil)
	if opts.LogFmt == "json" {
		h = slog.NewJSONHandler(opts.f.Err, nil)
	}
	log := slog.New(h)
	cfg := opts.Config
	cfg.Version = opts.f.Version
	cfg.Logger = log
	if cfg.Token == "" && opts.f.Token != "" {
		cfg.Token = opts.f.Token
	}
	if cfg.Token != "" { // both come from the command line
		log.Warn(tokenFlagWarning)
	}
	// PAVED_PPROF=127.0.0.1:6060 serves Go's profiles (/debug/pprof/) there,
	// to requests with the admin token: how `make bench` profiles the
	// router under load. An environment knob rather than a flag: it is for
	// whoever debugs the process, not part of the command's contract.
	cfg.PprofAddr = os.Getenv("PAVED_PPROF")
	// Caught from before the start, so a SIGTERM that comes as soon as the
	// cell says it started still shuts it down cleanly.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	c, err := cell.Start(cfg)
	if err != nil {
		return err
	}
	if c.TokenPath != "" {
		log.Info("generated an admin token", "path", c.TokenPath)
	}
	enforced, why := c.MemoryLimits()
	log.Info("cell started", "region", cfg.Region, "cloud", cfg.Cloud, "api", c.Scheme()+"://"+c.APIAddr(),
		"router", c.Scheme()+"://"+c.RouterAddr(), "tls", c.TLS(), "data", cfg.DataDir, "memory_limits", enforced, "memory_limits_reason", why)

	if c.TLS() {
		// Only a TLS cell takes SIGHUP over (a plain one still ends on it,
		// as before).
		signal.Notify(sig, syscall.SIGHUP)
	}
	got := <-sig
	for got == syscall.SIGHUP {
		// A renewed certificate is picked up without dropping a connection;
		// a broken pair is refused and the old one kept.
		if err := c.ReloadTLS(); err != nil {
			log.Error("TLS certificate not reloaded; the old one stays in use", "err", err)
		} else {
			log.Info("TLS certificate reloaded", "cert", cfg.TLSCert)
		}
		got = <-sig
	}
	log.Info("shutting down", "signal", got.String())
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
