// Command footprint measures issue 10's cell footprint: the resident memory
// and CPU of the cell process itself (not its apps) with 100 idle apps of
// one instance each, and how long a cell with 100 apps takes to start: from
// launching `paved server` on the data dir to every app running healthy
// again. scripts/bench-footprint.sh runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

type options struct {
	runs   int
	apps   int
	idle   time.Duration
	work   string
	repro  string
	source string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "start-up measurements (restarts of the same cell)")
	flag.IntVar(&o.apps, "apps", 100, "apps of one instance each")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "how long the idle cell is watched for memory and CPU")
	flag.StringVar(&o.work, "work", "", "directory for the cell's data (default a temporary one)")
	flag.StringVar(&o.repro, "repro", "", "the command line that reproduces this run, for the report")
	flag.StringVar(&o.source, "source", "examples/hello", "the apps' source")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/footprint: ")
	if o.work == "" {
		dir, err := os.MkdirTemp("", "paved-bench-footprint")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	r, err := run(o)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(report(o, r))
}

type result struct {
	deploy            time.Duration // creating the apps until all run
	rss, hwm          int64         // of the cell process, idle
	cpu               float64       // cell process CPU, percent of one core, idle
	starts            []float64     // seconds from launch to all apps running, per restart
	rssAfterRestart   int64
	instancesHealthy  int
	instancesExpected int
}

func run(o options) (result, error) {
	ctx := context.Background()
	var r result
	cs, err := benchkit.LaunchCells(o.work, "cell", "footprint")
	if err != nil {
		return r, err
	}
	defer cs.Stop()
	cell := cs.List[0]
	c := cell.Client
	data, digest, err := paved.Archive(o.source)
	if err != nil {
		return r, err
	}
	if _, _, err := c.Sources.Ensure(ctx, data, nil); err != nil {
		return r, err
	}
	if _, err := c.Spaces.Create(ctx, paved.SpaceSpec{Name: "idle"}); err != nil {
		return r, err
	}
	log.Printf("creating %d apps", o.apps)
	began := time.Now()
	if err := forEachApp(o.apps, func(i int) error {
		_, err := c.Apps.Create(ctx, "idle", paved.AppSpec{Name: appName(i), Source: digest, Build: "go build -o hello .",
			Command: "./hello", Instances: 1, Routes: []paved.Route{{Host: appName(i) + ".idle.test"}},
			HealthCheck: &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz"}})
		return err
	}); err != nil {
		return r, err
	}
	if err := allRunning(ctx, c, o.apps, 10*time.Minute); err != nil {
		return r, err
	}
	r.deploy = time.Since(began)
	log.Printf("%d apps running after %s; watching the idle cell for %s", o.apps, r.deploy.Round(time.Second), o.idle)
	time.Sleep(3 * time.Second) // let the start-up garbage go
	pid := cell.PID()
	t0, ok := cpuTicks(pid)
	if !ok {
		return r, fmt.Errorf("cannot read /proc/%d/stat", pid)
	}
	time.Sleep(o.idle)
	t1, _ := cpuTicks(pid)
	r.cpu = float64(t1-t0) / ticksPerSecond / o.idle.Seconds() * 100
	r.rss, r.hwm, _ = benchkit.MemOf(pid)
	h, err := c.Health(ctx)
	if err != nil {
		return r, err
	}
	r.instancesHealthy, r.instancesExpected = h.Counts.HealthyInstances, o.apps

	for i := range o.runs {
		cell.Stop() // SIGTERM: the cell stops its apps
		began := time.Now()
		if err := cell.Start(); err != nil {
			return r, err
		}
		if err := allRunning(ctx, c, o.apps, 5*time.Minute); err != nil {
			return r, err
		}
		d := time.Since(began)
		log.Printf("restart %d: %d apps running after %s", i+1, o.apps, d.Round(time.Millisecond))
		r.starts = append(r.starts, d.Seconds())
	}
	r.rssAfterRestart, _, _ = benchkit.MemOf(cell.PID())
	return r, nil
}

func appName(i int) string { return fmt.Sprintf("app-%03d", i) }

// forEachApp runs fn for every app index, 8 at a time.
func forEachApp(n int, fn func(int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// allRunning waits until the cell reports n healthy instances.
func allRunning(ctx context.Context, c *paved.Client, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		h, err := c.Health(ctx)
		if err == nil && h.Counts.HealthyInstances >= n {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("not all %d instances healthy within %s: %w", n, within, err)
			}
			return fmt.Errorf("not all %d instances healthy within %s (last: %+v)", n, within, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ticksPerSecond is USER_HZ, 100 on Linux.
const ticksPerSecond = 100

// cpuTicks reads utime+stime of pid from /proc/pid/stat.
func cpuTicks(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name (which may hold spaces) start after ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + st, err1 == nil && err2 == nil
}

func report(o options, r result) string {
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	start := benchkit.SpreadOf(r.starts)
	var sb strings.Builder
	sb.WriteString("## Cell footprint: 100 idle apps\n\n")
	fmt.Fprintf(&sb, "Machine: %s, Go %s. Command: `%s` (program: `%s`).\n\n", benchkit.Machine(), runtime.Version(), o.repro, benchkit.CommandLine("bench/footprint"))
	fmt.Fprintf(&sb, "One cell with %d apps of one instance each (examples/hello, http health checks every 2 s, one route each), "+
		"created through the API 8 at a time (%s until all ran healthy). The cell process's own memory (VmRSS, VmHWM) and CPU "+
		"(utime+stime over %s) are read from /proc while it idles; its apps are separate processes and not counted. Start-up: "+
		"the cell is stopped with SIGTERM (it stops its apps) and started again on the same data dir, timed until every app "+
		"answers its health check again; %d restarts.\n\n", o.apps, r.deploy.Round(time.Second), o.idle, len(r.starts))
	sb.WriteString(benchkit.Table([]benchkit.Row{
		{"cell RSS, idle with 100 apps", mib(r.rss), "≤ 100 MiB", benchkit.PassFail(r.rss <= 100<<20)},
		{"cell peak RSS (VmHWM)", mib(r.hwm), "reported", "—"},
		{"cell CPU, idle", fmt.Sprintf("%.1f%% of one core", r.cpu), "reported", "—"},
		{"healthy instances while idle", fmt.Sprintf("%d of %d", r.instancesHealthy, r.instancesExpected), "all", benchkit.PassFail(r.instancesHealthy >= r.instancesExpected)},
		{"start-up with 100 apps, s (median; min–max)", start.Format("%.2f"), "reported", "—"},
		{"cell RSS after the restarts", mib(r.rssAfterRestart), "≤ 100 MiB", benchkit.PassFail(r.rssAfterRestart <= 100<<20)},
	}))
	ok := r.rss <= 100<<20 && r.rssAfterRestart <= 100<<20 && r.instancesHealthy >= r.instancesExpected
	fmt.Fprintf(&sb, "\nVerdict: %s\n", map[bool]string{true: "PASS", false: "MISS"}[ok])
	return sb.String()
}
