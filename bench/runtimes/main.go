// Command runtimes measures the same two things on a cell of each runtime
// and prints them side by side as a Markdown section:
//
//   - rollout of N instances: examples/hello with --instances instances
//     (rolling, max_in_flight 25%, http health check /healthz every 200ms)
//     gets a GREETING change; the time from the update accepted to the app
//     settled on the new release;
//   - instance start → routable: the app is scaled from N to N+1; the time
//     from the update accepted to the first response of the new instance
//     through the router (polled every 5ms).
//
// scripts/bench-runtime.sh starts the cells (a process one, and a
// Kubernetes one on make kube-up's control plane and test nodes) and runs
// it:
//
//	runtimes --process http://127.0.0.1:7400 --kubernetes http://127.0.0.1:7401 [--instances 10] [--runs 3]
//
// Both cells take the token of --token or $PAVED_TOKEN.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

type options struct {
	cells     [2]string // process, kubernetes
	token     string
	instances int
	runs      int
	timeout   time.Duration
	appDir    string
	repro     string
}

var runtimeNames = [2]string{"process runtime", "Kubernetes runtime"}

func main() {
	var o options
	flag.StringVar(&o.cells[0], "process", "", "API URL of a cell with --runtime process")
	flag.StringVar(&o.cells[1], "kubernetes", "", "API URL of a cell with --runtime kubernetes")
	flag.StringVar(&o.token, "token", os.Getenv("PAVED_TOKEN"), "API token of both cells (default $PAVED_TOKEN)")
	flag.IntVar(&o.instances, "instances", 10, "instances of the app")
	flag.IntVar(&o.runs, "runs", 3, "independent runs per runtime (a fresh app each); medians with min and max")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long one change may take to settle")
	flag.StringVar(&o.appDir, "app-dir", "examples/hello", "source directory of the app")
	flag.StringVar(&o.repro, "repro", "", "command line to print as the way to reproduce")
	flag.Parse()
	if o.cells[0] == "" || o.cells[1] == "" || o.instances < 1 || o.runs < 1 {
		fmt.Fprintln(os.Stderr, "runtimes: --process and --kubernetes are required; --instances and --runs must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var res [2]result
	for i, endpoint := range o.cells {
		r, err := measure(ctx, o, endpoint)
		if err != nil {
			fmt.Fprintf(os.Stderr, "runtimes: %s: %v\n", runtimeNames[i], err)
			os.Exit(1)
		}
		res[i] = r
	}
	fmt.Print(report(o, res))
}

type result struct {
	version           string
	nodes             string
	rollout, routable []float64 // seconds, one per run
}

func measure(ctx context.Context, o options, endpoint string) (result, error) {
	var r result
	u, err := url.Parse(endpoint)
	if err != nil {
		return r, err
	}
	if err := benchkit.MustLoopback(u.Host); err != nil {
		return r, err
	}
	c, err := paved.NewClient(paved.Config{Endpoint: endpoint, Token: o.token, PollInterval: 50 * time.Millisecond})
	if err != nil {
		return r, err
	}
	h, err := c.Health(ctx)
	if err != nil {
		return r, fmt.Errorf("health: %w", err)
	}
	r.version = h.Version
	if h.Runtime.Driver == "kubernetes" {
		r.nodes = fmt.Sprintf("Kubernetes %s, %d of %d nodes ready", h.Runtime.ClusterVersion, h.Runtime.ReadyNodes, h.Runtime.Nodes)
	}
	if err := benchkit.MustLoopback(h.RouterAddr); err != nil {
		return r, fmt.Errorf("router: %w", err)
	}
	b := &bench{o: o, c: c, router: h.RouterAddr}
	if err := b.upload(ctx); err != nil {
		return r, err
	}
	for i := 1; i <= o.runs; i++ {
		app := fmt.Sprintf("hello-%d", i)
		host := app + ".runtimes.test"
		fmt.Fprintf(os.Stderr, "==> %s: run %d of %d (%s)\n", endpoint, i, o.runs, app)
		if err := b.create(ctx, app, host); err != nil {
			return r, err
		}
		d, err := b.rollout(ctx, app)
		if err != nil {
			return r, fmt.Errorf("run %d: rollout: %w", i, err)
		}
		r.rollout = append(r.rollout, d.Seconds())
		d, err = b.scaleUp(ctx, app, host)
		if err != nil {
			return r, fmt.Errorf("run %d: start → routable: %w", i, err)
		}
		r.routable = append(r.routable, d.Seconds())
		if err := c.Apps.Delete(ctx, "bench", app); err != nil {
			return r, fmt.Errorf("run %d: delete: %w", i, err)
		}
	}
	return r, nil
}

type bench struct {
	o      options
	c      *paved.Client
	router string
	digest string
}

func (b *bench) upload(ctx context.Context) error {
	data, digest, err := paved.Archive(b.o.appDir)
	if err != nil {
		return err
	}
	b.digest = digest
	if ok, err := b.c.Sources.Exists(ctx, digest); err != nil || ok {
		return err
	}
	_, err = b.c.Sources.Upload(ctx, data, nil)
	if err == nil {
		_, err = b.c.Spaces.Create(ctx, paved.SpaceSpec{Name: "bench"})
		if errors.Is(err, paved.ErrConflict) {
			err = nil
		}
	}
	return err
}

func (b *bench) create(ctx context.Context, app, host string) error {
	spec := paved.AppSpec{
		Name: app, Source: b.digest, Build: "go build -o hello .", Command: "./hello",
		Instances: b.o.instances, Routes: []paved.Route{{Host: host}},
		HealthCheck: &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz", Interval: paved.Duration(200 * time.Millisecond)},
		Deployment:  &paved.DeploymentSpec{Strategy: paved.StrategyRolling, MaxInFlight: "25%"},
	}
	if _, err := b.c.Apps.Create(ctx, "bench", spec); err != nil {
		return fmt.Errorf("create %s: %w", app, err)
	}
	a, err := b.wait(ctx, app)
	if err != nil {
		return err
	}
	if a.RunningCount != b.o.instances {
		return fmt.Errorf("%s came up with %d of %d instances: %s", app, a.RunningCount, b.o.instances, a.Message)
	}
	return nil
}

func (b *bench) wait(ctx context.Context, app string) (*paved.App, error) {
	wctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	a, err := b.c.Apps.Wait(wctx, "bench", app, nil)
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", app, err)
	}
	if a.Status != paved.AppRunning {
		return nil, fmt.Errorf("%s settled %s: %s", app, a.Status, a.Message)
	}
	return a, nil
}

func (b *bench) update(ctx context.Context, app string, fn func(*paved.AppSpec)) (time.Time, error) {
	cur, err := b.c.Apps.Get(ctx, "bench", app)
	if err != nil {
		return time.Time{}, err
	}
	spec := cur.AppSpec
	fn(&spec)
	if _, err := b.c.Apps.Update(ctx, "bench", spec, paved.IfMatch(cur.Version)); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// rollout times a GREETING change from accepted to settled.
func (b *bench) rollout(ctx context.Context, app string) (time.Duration, error) {
	accepted, err := b.update(ctx, app, func(s *paved.AppSpec) { s.Env = map[string]string{"GREETING": "hello again"} })
	if err != nil {
		return 0, err
	}
	if _, err := b.wait(ctx, app); err != nil {
		return 0, err
	}
	return time.Since(accepted), nil
}

// scaleUp times one more instance from the update accepted to its first
// answer through the router.
func (b *bench) scaleUp(ctx context.Context, app, host string) (time.Duration, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	seen := map[string]bool{}
	get := func() string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.router+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return ""
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		return resp.Header.Get("X-Paved-Instance")
	}
	// Learn the serving instances first: least-outstanding balancing
	// spreads serial requests over all of them.
	for range 50 * b.o.instances {
		if id := get(); id != "" {
			seen[id] = true
		}
	}
	if len(seen) != b.o.instances {
		return 0, fmt.Errorf("the router served from %d instances, want %d", len(seen), b.o.instances)
	}
	accepted, err := b.update(ctx, app, func(s *paved.AppSpec) { s.Instances++ })
	if err != nil {
		return 0, err
	}
	deadline := accepted.Add(b.o.timeout)
	for time.Now().Before(deadline) {
		if id := get(); id != "" && !seen[id] {
			return time.Since(accepted), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return 0, errors.New("the new instance never answered through the router")
}

func report(o options, res [2]result) string {
	var sb strings.Builder
	sb.WriteString("## Runtimes: processes vs Kubernetes pods\n\n")
	sb.WriteString("The same app on a cell of each runtime, on one machine: the process runtime runs instances as\n")
	sb.WriteString("local processes; the Kubernetes runtime as pods of a real control plane (kube-apiserver,\n")
	sb.WriteString("kube-controller-manager, kube-scheduler, etcd) on three test nodes (`make kube-up`), whose pods\n")
	sb.WriteString("fetch their droplet from the cell in an init container and run in their own network namespace.\n\n")
	fmt.Fprintf(&sb, "Reproduce with:\n\n```sh\n%s\n```\n\n", benchkit.OrDash(o.repro))
	fmt.Fprintf(&sb, "Machine: %s. Cell %s. %s. %d runs per runtime; medians (min–max).\n\n",
		benchkit.Machine(), res[0].version, benchkit.OrDash(res[1].nodes), o.runs)
	fmt.Fprintf(&sb, "| metric | %s | %s |\n|---|---|---|\n", runtimeNames[0], runtimeNames[1])
	fmt.Fprintf(&sb, "| rollout of %d instances, s (update accepted → settled; rolling, 25%% in flight) | %s | %s |\n",
		o.instances, benchkit.SpreadOf(res[0].rollout).Format("%.2f"), benchkit.SpreadOf(res[1].rollout).Format("%.2f"))
	fmt.Fprintf(&sb, "| instance start → routable, s (scale %d → %d accepted → first answer of the new instance) | %s | %s |\n",
		o.instances, o.instances+1, benchkit.SpreadOf(res[0].routable).Format("%.2f"), benchkit.SpreadOf(res[1].routable).Format("%.2f"))
	return sb.String()
}
