// Command rollout measures paved rollouts under load against a running
// cell and prints a Markdown section with the results.
//
// It pushes examples/hello with --instances instances (route --host, http
// health check /healthz every 200ms) through the Go library, then
//
//   - a. rolling deploy under load: an open-loop load of --rate requests/s
//     through the router while a GREETING change rolls out with strategy
//     rolling, max_in_flight "25%"; it counts the failed requests (non-200
//     or transport errors) and times the rollout (update accepted → app
//     settled on the new release);
//   - b. canary rollback: strategy canary, one step {weight 25, watch 30s},
//     max_error_rate 0.05, min_requests 20, and a FAIL_EVERY=2 change under
//     the same load; it measures, client-side, the time from the moment the
//     canary crossed its threshold (the responses of new-release instances
//     number at least min_requests and more than 5% of them failed) to the
//     last response a new-release instance served.
//
// scripts/bench-rollout.sh starts a throwaway cell and runs it:
//
//	rollout --endpoint http://127.0.0.1:7400 --router 127.0.0.1:7480 [--instances 10] [--rate 1000]
//
// The token comes from --token or $PAVED_TOKEN. It exits non-zero when a
// measurement cannot be taken, not when a target is missed (the report
// says so).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

type options struct {
	endpoint, token, router  string
	space, app, host, appDir string
	instances                int
	rate                     float64
	workers                  int
	warmup, tail, timeout    time.Duration
	canaryWeight             int
	canaryWatch              time.Duration
	maxErrorRate             float64
	minRequests              int
	rollbackTarget           time.Duration
	repro                    string
	runs                     int
}

func main() {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", os.Getenv("PAVED_ENDPOINT"), "cell API URL (default $PAVED_ENDPOINT)")
	flag.StringVar(&o.token, "token", "", "API token (default $PAVED_TOKEN)")
	flag.StringVar(&o.router, "router", "", "router address host:port (default: the one the cell reports)")
	flag.StringVar(&o.space, "space", "bench", "space to create the app in")
	flag.StringVar(&o.app, "app", "hello", "app name")
	flag.StringVar(&o.host, "host", "bench.test", "route host")
	flag.StringVar(&o.appDir, "app-dir", "examples/hello", "source directory of the app")
	flag.IntVar(&o.instances, "instances", 10, "instances of the app")
	flag.Float64Var(&o.rate, "rate", 1000, "offered load, requests per second (open loop)")
	flag.IntVar(&o.workers, "workers", 64, "load generator workers (keep-alive connections)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before each change")
	flag.DurationVar(&o.tail, "tail", 2*time.Second, "load after the app settled")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long one rollout may take to settle")
	flag.IntVar(&o.canaryWeight, "canary-weight", 25, "canary step traffic weight (percent)")
	flag.DurationVar(&o.canaryWatch, "canary-watch", 30*time.Second, "canary step watch")
	flag.Float64Var(&o.maxErrorRate, "max-error-rate", 0.05, "canary max_error_rate")
	flag.IntVar(&o.minRequests, "min-requests", 20, "canary min_requests")
	flag.DurationVar(&o.rollbackTarget, "rollback-target", 5*time.Second, "target: threshold crossed → last canary response")
	flag.IntVar(&o.runs, "runs", 3, "independent runs (a fresh app each); the report gives medians with min and max")
	flag.StringVar(&o.repro, "repro", "", "command line to print as the way to reproduce (default: this program's)")
	flag.Parse()
	if o.token == "" {
		o.token = os.Getenv("PAVED_TOKEN")
	}
	if o.instances < 1 || o.rate <= 0 || o.workers < 1 || o.minRequests < 1 || o.runs < 1 {
		fatalf("--instances, --rate, --workers, --min-requests and --runs must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := run(ctx, o)
	if err != nil {
		fatalf("%v", err)
	}
	fmt.Print(report)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rollout: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rollout: "+format+"\n", args...)
}

func run(ctx context.Context, o options) (string, error) {
	if o.endpoint == "" {
		return "", errors.New("--endpoint (or $PAVED_ENDPOINT) is required")
	}
	u, err := url.Parse(o.endpoint)
	if err != nil {
		return "", fmt.Errorf("--endpoint: %w", err)
	}
	if err := benchkit.MustLoopback(u.Host); err != nil {
		return "", fmt.Errorf("--endpoint: %w", err)
	}
	c, err := paved.NewClient(paved.Config{Endpoint: o.endpoint, Token: o.token, PollInterval: 100 * time.Millisecond})
	if err != nil {
		return "", err
	}
	h, err := c.Health(ctx)
	if err != nil {
		return "", fmt.Errorf("cell health: %w", err)
	}
	if o.router == "" {
		o.router = h.RouterAddr
	}
	if err := benchkit.MustLoopback(o.router); err != nil {
		return "", fmt.Errorf("router: %w", err)
	}

	// Each run gets a fresh app (APP-1, APP-2, …) on the same route, so a
	// run starts from release 1 with no pending change; the previous run's
	// app is deleted first, which frees the route and the CPU it used.
	var runs []runResult
	for i := 1; i <= o.runs; i++ {
		ro := o
		if o.runs > 1 {
			ro.app = fmt.Sprintf("%s-%d", o.app, i)
		}
		logf("run %d of %d (app %s/%s)", i, o.runs, ro.space, ro.app)
		b := &bench{o: ro, c: c, cellVersion: h.Version}
		if err := b.push(ctx); err != nil {
			return "", err
		}
		a, err := b.rolling(ctx)
		if err != nil {
			return "", fmt.Errorf("run %d: rolling deploy: %w", i, err)
		}
		cn, err := b.canary(ctx)
		if err != nil {
			return "", fmt.Errorf("run %d: canary rollback: %w", i, err)
		}
		runs = append(runs, runResult{o: ro, a: a, c: cn})
		if i < o.runs {
			if err := c.Apps.Delete(ctx, ro.space, ro.app); err != nil {
				return "", fmt.Errorf("run %d: delete %s: %w", i, ro.app, err)
			}
		}
	}
	return report(o, h.Version, runs), nil
}

// runResult is one run: its options (the app name differs per run) and
// its two phases.
type runResult struct {
	o    options
	a, c *phase
}

type bench struct {
	o           options
	c           *paved.Client
	cellVersion string
}

func (b *bench) strategyRolling() *paved.DeploymentSpec {
	return &paved.DeploymentSpec{Strategy: paved.StrategyRolling, MaxInFlight: "25%"}
}

func (b *bench) strategyCanary() *paved.DeploymentSpec {
	rate := b.o.maxErrorRate
	return &paved.DeploymentSpec{Strategy: paved.StrategyCanary,
		Steps:        []paved.CanaryStep{{Weight: b.o.canaryWeight, Watch: paved.Duration(b.o.canaryWatch)}},
		MaxErrorRate: &rate, MinRequests: b.o.minRequests}
}

// push uploads the app's source and creates the app, then waits until every
// instance is healthy and the router answers for it.
func (b *bench) push(ctx context.Context) error {
	o := b.o
	data, digest, err := paved.Archive(o.appDir)
	if err != nil {
		return fmt.Errorf("pack %s: %w", o.appDir, err)
	}
	if ok, err := b.c.Sources.Exists(ctx, digest); err != nil {
		return err
	} else if !ok {
		if _, err := b.c.Sources.Upload(ctx, data, nil); err != nil {
			return err
		}
	}
	if _, err := b.c.Spaces.Create(ctx, paved.SpaceSpec{Name: o.space}); err != nil && !errors.Is(err, paved.ErrConflict) {
		return fmt.Errorf("create space %s: %w", o.space, err)
	}
	spec := paved.AppSpec{
		Name: o.app, Source: digest, Build: "go build -o hello .", Command: "./hello",
		Instances: o.instances, Routes: []paved.Route{{Host: o.host}},
		HealthCheck: &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz", Interval: paved.Duration(200 * time.Millisecond)},
		Deployment:  b.strategyRolling(),
	}
	logf("pushing %s as %s/%s with %d instances (route %s)", o.appDir, o.space, o.app, o.instances, o.host)
	if _, err := b.c.Apps.Create(ctx, o.space, spec); err != nil {
		if errors.Is(err, paved.ErrConflict) {
			return fmt.Errorf("app %s/%s already exists: run against a fresh cell", o.space, o.app)
		}
		return fmt.Errorf("create app: %w", err)
	}
	a, err := b.wait(ctx)
	if err != nil {
		return err
	}
	if a.Status != paved.AppRunning || a.RunningCount != o.instances {
		return fmt.Errorf("the app did not come up: status %s, %d of %d healthy: %s", a.Status, a.RunningCount, o.instances, a.Message)
	}
	return b.routerAnswers(ctx)
}

// routerAnswers waits (up to 10 s) for the router to answer 200 for the host.
func (b *bench) routerAnswers(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	var last string
	for range 100 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.o.router+"/", nil)
		req.Host = b.o.host
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("the router does not answer 200 for %s: %s", b.o.host, last)
}

// wait waits (up to --timeout) for the app to settle at its newest generation.
func (b *bench) wait(ctx context.Context) (*paved.App, error) {
	wctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	a, err := b.c.Apps.Wait(wctx, b.o.space, b.o.app, nil)
	if err != nil {
		if a != nil {
			return nil, fmt.Errorf("waiting for %s/%s (status %s, release %d, %s): %w", b.o.space, b.o.app, a.Status, a.Release, a.Message, err)
		}
		return nil, fmt.Errorf("waiting for %s/%s: %w", b.o.space, b.o.app, err)
	}
	return a, nil
}

// update applies fn to the app's spec (If-Match its version) and returns
// when the cell accepted the change.
func (b *bench) update(ctx context.Context, fn func(*paved.AppSpec)) (*paved.App, error) {
	cur, err := b.c.Apps.Get(ctx, b.o.space, b.o.app)
	if err != nil {
		return nil, err
	}
	spec := cur.AppSpec
	fn(&spec)
	return b.c.Apps.Update(ctx, b.o.space, spec, paved.IfMatch(cur.Version))
}

func setEnv(k, v string) func(*paved.AppSpec) {
	return func(s *paved.AppSpec) {
		env := make(map[string]string, len(s.Env)+1)
		for ek, ev := range s.Env {
			env[ek] = ev
		}
		env[k] = v
		s.Env = env
	}
}

// phase is one change rolled out under load.
type phase struct {
	before              *paved.App
	after               *paved.App
	accepted, settled   time.Time
	samples             []sample
	loadDur             time.Duration
	skipped             int64
	dep                 *paved.Deployment
	oldRelease, release int
}

// underLoad starts the load, waits --warmup, applies the change, waits for
// the app to settle, keeps the load for --tail and stops it.
func (b *bench) underLoad(ctx context.Context, change func(*paved.AppSpec)) (*phase, error) {
	p := &phase{}
	var err error
	if p.before, err = b.c.Apps.Get(ctx, b.o.space, b.o.app); err != nil {
		return nil, err
	}
	// The load is bounded whatever happens: warm-up + rollout timeout + tail + slack.
	hard, cancel := context.WithTimeout(ctx, b.o.warmup+b.o.timeout+b.o.tail+30*time.Second)
	defer cancel()
	lg := newLoadGen(b.o.router, b.o.host, b.o.rate, b.o.workers)
	lg.start(hard)
	defer lg.stop()
	if err := sleep(ctx, b.o.warmup); err != nil {
		return nil, err
	}
	if _, err := b.update(ctx, change); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	p.accepted = time.Now()
	if p.after, err = b.wait(ctx); err != nil {
		return nil, err
	}
	p.settled = time.Now()
	if err := sleep(ctx, b.o.tail); err != nil {
		return nil, err
	}
	p.samples = lg.stop()
	p.loadDur = lg.duration()
	p.skipped = lg.skipped.Load()
	if hard.Err() != nil {
		return nil, errors.New("the load generator reached its time bound before the phase ended")
	}
	deps, err := b.c.Deployments.List(ctx, b.o.space, b.o.app)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	var newest *paved.Deployment
	for i := range deps {
		if newest == nil || deps[i].ID > newest.ID {
			newest = &deps[i]
		}
	}
	if newest == nil || !newest.StartedAt.After(p.accepted.Add(-time.Minute)) {
		return nil, errors.New("the change started no deployment")
	}
	if p.dep, err = b.c.Deployments.Get(ctx, newest.ID); err != nil {
		return nil, fmt.Errorf("get deployment %d: %w", newest.ID, err)
	}
	p.release, p.oldRelease = p.dep.Release, p.dep.From
	return p, nil
}

func (b *bench) rolling(ctx context.Context) (*phase, error) {
	logf("a. rolling deploy of %d instances under %.0f req/s (GREETING changes)", b.o.instances, b.o.rate)
	p, err := b.underLoad(ctx, setEnv("GREETING", "hello from the rollout benchmark"))
	if err != nil {
		return nil, err
	}
	logf("a. release %d → %d: %s in %s", p.oldRelease, p.release, p.dep.Status, p.settled.Sub(p.accepted).Round(time.Millisecond))
	return p, nil
}

func (b *bench) canary(ctx context.Context) (*phase, error) {
	// The strategy alone is no new release: it applies to the next one.
	if _, err := b.update(ctx, func(s *paved.AppSpec) { s.Deployment = b.strategyCanary() }); err != nil {
		return nil, fmt.Errorf("set the canary strategy: %w", err)
	}
	a, err := b.wait(ctx)
	if err != nil {
		return nil, err
	}
	if a.Status != paved.AppRunning || a.RunningCount != b.o.instances {
		return nil, fmt.Errorf("before the canary: status %s, %d of %d healthy: %s", a.Status, a.RunningCount, b.o.instances, a.Message)
	}
	logf("b. canary (weight %d%%, watch %s) of FAIL_EVERY=2 under %.0f req/s", b.o.canaryWeight, b.o.canaryWatch, b.o.rate)
	p, err := b.underLoad(ctx, setEnv("FAIL_EVERY", "2"))
	if err != nil {
		return nil, err
	}
	logf("b. release %d: %s (%s)", p.release, p.dep.Status, p.dep.Reason)
	return p, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
