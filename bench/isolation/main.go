// Command isolation measures what sandboxing costs an instance's start
// (issue 17): the time from the runtime's Start to the instance accepting
// TCP connections on its port, for the same app started as a plain process
// of the cell (--isolation none) and in a sandbox (its space's uid, own PID
// and mount namespaces, cgroups), alternating the two so that drift on the
// machine hits both alike. scripts/bench-isolation.sh runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
)

// benchUID is the space uid of the sandboxed starts.
const benchUID = 200_999

func main() {
	runs := flag.Int("runs", 15, "starts per mode")
	work := flag.String("work", "", "directory for the droplet and the drivers' state (default a temporary one)")
	repro := flag.String("repro", "", "the command line that reproduces this run, for the report")
	source := flag.String("source", "examples/hello", "the app: a Go main package, built once")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/isolation: ")
	if *work == "" {
		dir, err := os.MkdirTemp("", "paved-bench-isolation")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*work = dir
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		log.Fatal(err)
	}
	droplet, err := filepath.Abs(filepath.Join(*work, "droplet"))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(droplet, 0o755); err != nil {
		log.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(droplet, "app"), ".")
	build.Dir = *source // its own module
	if out, err := build.CombinedOutput(); err != nil {
		log.Fatalf("build %s: %v\n%s", *source, err, out)
	}
	modes := []struct {
		name string
		iso  *runtime.Isolation
	}{{"plain process (--isolation none)", nil}, {"sandboxed (--isolation auto)", &runtime.Isolation{Hide: []string{filepath.Join(*work, "state")}}}}
	drivers := make([]*runtime.ProcessDriver, len(modes))
	for i, m := range modes {
		d, err := runtime.NewProcessDriver(runtime.ProcessOptions{
			CellID: fmt.Sprintf("bench-iso-%d-%d", os.Getpid(), i), Dir: filepath.Join(*work, "state", strconv.Itoa(i)), Isolation: m.iso,
		})
		if err != nil {
			log.Fatal(err)
		}
		defer func() {
			if err := d.StopAll(context.Background(), time.Second); err != nil {
				log.Print(err)
			}
		}()
		drivers[i] = d
	}
	times := make([][]float64, len(modes))
	for r := range *runs {
		for i := range modes {
			ms, err := startOnce(drivers[i], droplet, fmt.Sprintf("bench-%d-%d", i, r), modes[i].iso != nil)
			if err != nil {
				log.Fatalf("%s: %v", modes[i].name, err)
			}
			times[i] = append(times[i], ms)
		}
	}
	var sb strings.Builder
	sb.WriteString("## Instance start: plain process vs sandbox\n\n")
	fmt.Fprintf(&sb, "Reproduce: `%s` (%s). From the runtime's Start to the instance accepting TCP on its port, "+
		"%d starts per mode, alternating; median (min–max) in milliseconds. The app is `%s`, built once.\n\n", *repro, benchkit.Machine(), *runs, *source)
	sb.WriteString("| mode | start to listening, ms |\n|---|---|\n")
	for i, m := range modes {
		fmt.Fprintf(&sb, "| %s | %s |\n", m.name, benchkit.SpreadOf(times[i]).Format("%.1f"))
	}
	plain, boxed := benchkit.SpreadOf(times[0]).Median, benchkit.SpreadOf(times[1]).Median
	fmt.Fprintf(&sb, "\nThe sandbox adds %.1f ms to a start (%.2f×): the cell's own binary started again as the sandbox's init, "+
		"its mounts, and the cgroup placement before the app runs.\n", boxed-plain, boxed/plain)
	fmt.Print(sb.String())
}

// startOnce starts one instance, waits until its port accepts, stops it and
// returns the milliseconds to listening.
func startOnce(d *runtime.ProcessDriver, dir, id string, isolated bool) (float64, error) {
	spec := runtime.InstanceSpec{ID: id, App: "bench/app", Release: 1, Dir: dir, Command: "./app"}
	if isolated {
		spec.UID, spec.GID = benchUID, benchUID
	}
	start := time.Now()
	st, err := d.Start(spec)
	if err != nil {
		return 0, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(st.Port))
	deadline := start.Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("instance %s never listened on %s: %w", id, addr, err)
		}
		time.Sleep(500 * time.Microsecond)
	}
	took := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Stop(ctx, id, time.Second); err != nil {
		return 0, err
	}
	return float64(took.Microseconds()) / 1000, nil
}
