// Command failover measures issue 10's failover: the window of failed
// requests when a whole cell is killed while clients use another cell's
// router. Three cells run examples/hello as a replica set behind one global
// host; the client cell (gcp-europe-west2) runs no instance of its own, so
// its router forwards every request to a peer cell (aws-eu-west-1 or
// onprem-london). Halfway through an open-loop load on the client cell's
// router, aws-eu-west-1 is killed with SIGKILL. The report shows the failed
// requests and the window from the first to the last failure, per run and
// as the median, min and max of the runs. scripts/bench-failover.sh runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

var regions = []string{"aws-eu-west-1", "gcp-europe-west2", "onprem-london"}

const host = "hello.global.example.test"

type options struct {
	runs     int
	duration time.Duration
	rate     int
	workers  int
	work     string
	repro    string
	source   string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "runs (the report shows the median, min and max)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "load duration of one run; the cell is killed at half")
	flag.IntVar(&o.rate, "rate", 500, "requests per second (open loop)")
	flag.IntVar(&o.workers, "workers", 64, "concurrent clients")
	flag.StringVar(&o.work, "work", "", "directory for the cells' data (default a temporary one)")
	flag.StringVar(&o.repro, "repro", "", "the command line that reproduces this run, for the report")
	flag.StringVar(&o.source, "source", "examples/hello", "the app's source")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/failover: ")
	if o.work == "" {
		dir, err := os.MkdirTemp("", "paved-bench-failover")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	var rs []result
	for i := range o.runs {
		r, err := oneRun(o, i)
		if err != nil {
			log.Fatalf("run %d: %v", i+1, err)
		}
		log.Printf("run %d: %d requests, %d failed, window %s", i+1, r.total, r.failed, r.window)
		rs = append(rs, r)
	}
	fmt.Print(report(o, rs))
}

// sample is one request's outcome.
type sample struct {
	at      time.Time
	latency time.Duration
	region  string // X-Paved-Region of the answer
	err     string // "" when it got a 2xx
}

type result struct {
	total, failed int
	window        time.Duration // first to last failure (0: none)
	firstErr      string
	servedBefore  map[string]int // region → answers before the kill
	servedAfter   map[string]int
	p50, p99      time.Duration
}

func oneRun(o options, n int) (result, error) {
	ctx := context.Background()
	cs, err := benchkit.LaunchCells(o.work, fmt.Sprintf("run%d", n), regions...)
	if err != nil {
		return result{}, err
	}
	defer cs.Stop()
	data, _, err := paved.Archive(o.source)
	if err != nil {
		return result{}, err
	}
	spec := paved.ReplicaSetSpec{Name: "hello", Regions: regions, MinHealthyRegions: len(regions), Space: "bench",
		GlobalHost: host, Source: data, Rollout: paved.RolloutParallel,
		App: paved.AppSpec{Name: "hello", Build: "go build -o hello .", Command: "./hello", Instances: 2,
			HealthCheck: &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz", Interval: paved.Duration(500 * time.Millisecond)}}}
	actx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := cs.Regions.ReplicaSets.Apply(actx, spec, nil); err != nil {
		return result{}, fmt.Errorf("deploy: %w", err)
	}
	// The client cell runs no instance: its router must forward.
	client, victim := cs.List[1], cs.List[0]
	a, err := client.Client.Apps.Get(ctx, "bench", "hello")
	if err != nil {
		return result{}, err
	}
	a.Instances = 0
	if _, err := client.Client.Apps.Update(ctx, "bench", a.AppSpec); err != nil {
		return result{}, err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.workers}}
	router := "http://" + client.RouterAddr
	deadline := time.Now().Add(time.Minute)
	for {
		s := get(hc, router)
		if s.err == "" && s.region != client.Region {
			break
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("the client cell's router does not forward: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var killedAt time.Time
	kill := time.AfterFunc(o.duration/2, func() { killedAt = time.Now(); victim.Kill9() })
	defer kill.Stop()
	samples := load(hc, router, o)
	return analyze(samples, killedAt), nil
}

// load sends o.rate requests per second for o.duration, open loop: a
// request is due at its slot whether or not earlier ones have returned
// (up to o.workers in flight).
func load(hc *http.Client, router string, o options) []sample {
	total := int(o.duration.Seconds() * float64(o.rate))
	out := make([]sample, total)
	slots := make(chan int, o.workers)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range slots {
				out[i] = get(hc, router)
			}
		}()
	}
	start := time.Now()
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(o.rate))); wait > 0 {
			time.Sleep(wait)
		}
		slots <- i
	}
	close(slots)
	wg.Wait()
	return out
}

func get(hc *http.Client, router string) sample {
	s := sample{at: time.Now()}
	req, _ := http.NewRequest(http.MethodGet, router+"/", nil)
	req.Host = host
	res, err := hc.Do(req)
	s.latency = time.Since(s.at)
	if err != nil {
		s.err = err.Error()
		return s
	}
	_, cerr := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	s.region = res.Header.Get(paved.RegionHeader)
	switch {
	case res.StatusCode/100 != 2:
		s.err = res.Status
	case cerr != nil: // cut off in the body: not an answer either
		s.err = cerr.Error()
	}
	return s
}

func analyze(samples []sample, killedAt time.Time) result {
	r := result{total: len(samples), servedBefore: map[string]int{}, servedAfter: map[string]int{}}
	var first, last time.Time
	var lat []time.Duration
	for _, s := range samples {
		if s.err != "" {
			r.failed++
			if first.IsZero() || s.at.Before(first) {
				first, r.firstErr = s.at, s.err
			}
			if s.at.After(last) {
				last = s.at
			}
			continue
		}
		lat = append(lat, s.latency)
		if !killedAt.IsZero() && s.at.After(killedAt) {
			r.servedAfter[s.region]++
		} else {
			r.servedBefore[s.region]++
		}
	}
	if r.failed > 0 {
		r.window = last.Sub(first)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}

func served(m map[string]int) string {
	var parts []string
	for _, r := range regions {
		if m[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
		}
	}
	return strings.Join(parts, ", ")
}

func report(o options, rs []result) string {
	var sb strings.Builder
	sb.WriteString("## Failover: a whole cell killed, clients on another cell's router\n\n")
	fmt.Fprintf(&sb, "Machine: %s, Go %s. Command: `%s` (program: `%s`).\n\n", benchkit.Machine(), runtime.Version(), o.repro, benchkit.CommandLine("bench/failover"))
	fmt.Fprintf(&sb, "examples/hello (2 instances per region) as a replica set in three cells behind `%s`. The clients use the router of "+
		"%s, which runs no instance of its own, so it forwards to the peer cells; %d requests/s (open loop, GET /, keep-alive) for %s, "+
		"and %s is killed with SIGKILL halfway. A failure is a transport error or a non-2xx answer; the window runs from the first "+
		"failed request to the last. The router forwards a request whose peer refuses the connection to the next peer at once, and "+
		"drops a peer whose probe fails (every 500 ms).\n\n", host, regions[1], o.rate, o.duration, regions[0])
	sb.WriteString("| run | requests | failed | failure window | first error | served before the kill | served after | p50 | p99 |\n|---|---|---|---|---|---|---|---|---|\n")
	var windows, failed []float64
	for i, r := range rs {
		windows = append(windows, r.window.Seconds()*1000)
		failed = append(failed, float64(r.failed))
		fmt.Fprintf(&sb, "| %d | %d | %d | %s | %s | %s | %s | %s | %s |\n", i+1, r.total, r.failed, r.window.Round(time.Millisecond),
			benchkit.OrDash(r.firstErr), served(r.servedBefore), served(r.servedAfter), r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond))
	}
	w, f := benchkit.SpreadOf(windows), benchkit.SpreadOf(failed)
	sb.WriteString("\n")
	sb.WriteString(benchkit.Table([]benchkit.Row{
		{"failure window, ms (median; min–max)", w.Format("%.0f"), "≤ 1000", benchkit.PassFail(w.Max <= 1000)},
		{"failed requests (median; min–max)", f.Format("%.0f"), "reported", "—"},
	}))
	fmt.Fprintf(&sb, "\nVerdict: %s\n", map[bool]string{true: "PASS", false: "MISS"}[w.Max <= 1000])
	return sb.String()
}
