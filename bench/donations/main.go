// Command donations benchmarks the donation night of issue 6: the
// examples/donations app as a replica set in three cells (aws-eu-west-1,
// gcp-europe-west2, onprem-london), donations driven through all three
// routers as fast as the donors go, one whole cell killed (-9) halfway, and
// afterwards every acknowledged donation checked in the merged totals. It
// writes a Markdown section to stdout; scripts/bench-donations.sh runs it.
//
// Each run starts fresh cells (so runs do not share state), deploys with the
// paved library's multi-region fan-out, and stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/donationload"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

var regionNames = []string{"aws-eu-west-1", "gcp-europe-west2", "onprem-london"}

const globalHost = "donations.example.test"

type options struct {
	runs     int
	duration time.Duration
	workers  int
	work     string
	repro    string
	source   string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "runs (the report shows the median, min and max)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "load duration of one run; a cell is killed at half")
	flag.IntVar(&o.workers, "workers", 96, "concurrent donors")
	flag.StringVar(&o.work, "work", "", "directory for the cells' data (default a temporary one)")
	flag.StringVar(&o.repro, "repro", "", "the command line that reproduces this run, for the report")
	flag.StringVar(&o.source, "source", "examples/donations/app", "the donations app's source")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/donations: ")
	if o.work == "" {
		dir, err := os.MkdirTemp("", "paved-bench-donations")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	var results []runResult
	for i := range o.runs {
		log.Printf("run %d of %d", i+1, o.runs)
		r, err := oneRun(o, i)
		if err != nil {
			log.Fatalf("run %d: %v", i+1, err)
		}
		log.Printf("run %d: %.0f donations/s, failure window %s, %d lost, verified: %v",
			i+1, r.load.Rate(), r.load.FailureWindow.Round(time.Millisecond), len(r.load.Lost), r.verifyErr == nil)
		results = append(results, r)
	}
	fmt.Print(report(o, results))
}

type runResult struct {
	load      *donationload.Result
	killed    string
	verifyErr error
	recovery  time.Duration // from the restart of the killed cell to every region's totals being complete
}

func oneRun(o options, n int) (runResult, error) {
	ctx := context.Background()
	cs, err := benchkit.LaunchCells(o.work, fmt.Sprintf("run%d", n), regionNames...)
	if err != nil {
		return runResult{}, err
	}
	defer cs.Stop()
	cells, regions, routers := cs.List, cs.Regions, cs.Routers()
	data, _, err := paved.Archive(o.source)
	if err != nil {
		return runResult{}, fmt.Errorf("pack %s: %w", o.source, err)
	}
	spec := paved.ReplicaSetSpec{
		Name: "donations", Regions: regionNames, MinHealthyRegions: len(regionNames), Space: "charity",
		GlobalHost: globalHost, Source: data, Rollout: paved.RolloutParallel,
		App: paved.AppSpec{Name: "donations", Build: "go build -o donations .", Command: "./donations", Instances: 1,
			HealthCheck: &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz"},
			Env:         map[string]string{"PEERS": strings.Join(routers, ","), "GLOBAL_HOST": globalHost}},
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := regions.ReplicaSets.Apply(actx, spec, nil); err != nil {
		return runResult{}, fmt.Errorf("deploy: %w", err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, r := range routers {
		if err := waitFor(ctx, 60*time.Second, func() error {
			_, err := donationload.Verify(ctx, client, r, globalHost, nil, nil)
			return err
		}); err != nil {
			return runResult{}, fmt.Errorf("%s does not serve the app: %w", r, err)
		}
	}

	victim := cells[0]
	res, err := donationload.Run(ctx, donationload.Config{
		Routers: routers, Host: globalHost, Duration: o.duration, Workers: o.workers,
		Prefix: fmt.Sprintf("bench%d-%d", n, time.Now().UnixNano()),
		AtHalf: func() { victim.Kill9() },
	})
	if err != nil {
		return runResult{}, err
	}
	out := runResult{load: res, killed: victim.Region}
	restarted := time.Now()
	if err := victim.Start(); err != nil {
		return out, fmt.Errorf("restart %s: %w", victim.Region, err)
	}
	// Every region's merged view must come to hold every acknowledged
	// donation exactly once; peers sync every second.
	out.verifyErr = waitFor(ctx, 90*time.Second, func() error {
		for _, r := range routers {
			if _, err := donationload.Verify(ctx, client, r, globalHost, res.Acked, res.Lost); err != nil {
				return err
			}
		}
		return nil
	})
	out.recovery = time.Since(restarted)
	return out, nil
}

func waitFor(ctx context.Context, within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func report(o options, rs []runResult) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "## Donations: three regions, one killed halfway\n\n")
	fmt.Fprintf(&sb, "Machine: %s, Go %s. Command: `%s`", benchkit.Machine(), runtime.Version(), o.repro)
	fmt.Fprintf(&sb, " (program: `%s`).\n\n", benchkit.CommandLine("bench/donations"))
	fmt.Fprintf(&sb, "examples/donations/app as a replica set in three cells on this machine (%s), %d donors posting "+
		"donations with their own idempotency keys round-robin over the three routers for %s; a donor whose request fails "+
		"retries at once on the next router with the same key. Halfway, the cell %s is killed with SIGKILL (its app "+
		"instance dies with it). After the run it is restarted on the same data dir, and every region's merged total is "+
		"checked against the donors' acknowledgements: every acknowledged donation exactly once. The app acknowledges "+
		"only after an fsync (group commit).\n\n",
		strings.Join(regionNames, ", "), o.workers, o.duration, rs[0].killed)
	sb.WriteString("| run | acknowledged/s | donations | failed attempts | failure window | p50 | p99 | lost | all counted once |\n|---|---|---|---|---|---|---|---|---|\n")
	var rates []float64
	lost, bad := 0, 0
	var worstWindow time.Duration
	for i, r := range rs {
		l := r.load
		rates = append(rates, l.Rate())
		lost += len(l.Lost)
		if r.verifyErr != nil {
			bad++
		}
		worstWindow = max(worstWindow, l.FailureWindow)
		fmt.Fprintf(&sb, "| %d | %.0f | %d | %d | %s | %s | %s | %d | %s |\n", i+1, l.Rate(), len(l.Acked), l.Failed,
			l.FailureWindow.Round(time.Millisecond), l.Percentile(50).Round(100*time.Microsecond),
			l.Percentile(99).Round(100*time.Microsecond), len(l.Lost), benchkit.OkOr(r.verifyErr == nil, errText(r.verifyErr)))
	}
	rate := benchkit.SpreadOf(rates)
	med := rate.Median
	sb.WriteString("\n")
	sb.WriteString(benchkit.Table([]benchkit.Row{
		{"acknowledged donations/s (median; min–max)", rate.Format("%.0f"), "≥ 3,000", benchkit.PassFail(med >= 3000)},
		{"acknowledged donations lost", fmt.Sprint(lost), "0", benchkit.PassFail(lost == 0 && bad == 0)},
		{"longest failure window before a retry succeeded", worstWindow.Round(time.Millisecond).String(), "≤ 1s", benchkit.PassFail(worstWindow <= time.Second)},
	}))
	verdict := med >= 3000 && lost == 0 && bad == 0 && worstWindow <= time.Second
	fmt.Fprintf(&sb, "\nVerdict: %s\n", map[bool]string{true: "PASS", false: "MISS"}[verdict])
	return sb.String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return "no: " + s
}
