// Command planscale measures `tofu plan` of the paved provider at scale
// against a running cell and prints a Markdown section with the results.
//
// For each size N (--sizes, default 100,300,1000) it generates, in a fresh
// directory, a configuration of N paved_space resources plus --apps (100)
// paved_app resources with instances = 0 (stopped apps: command "true", no
// source), applies it once (timed separately), then times
//
//	tofu plan -refresh=true -detailed-exitcode
//
// (exit 0 = empty plan, which is what an unchanged config must give) while
// sampling the RSS of the terraform-provider-paved process every 50 ms, and
// destroys it again. OpenTofu uses the local provider build through a
// dev_overrides CLI config (TF_CLI_CONFIG_FILE) and its default
// -parallelism. scripts/bench-planscale.sh builds the provider, starts a
// throwaway cell and runs it:
//
//	planscale --tofu PATH --provider-dir bin --endpoint http://127.0.0.1:7400 [--sizes 100,300,1000] [--apps 100]
//
// The token comes from --token or $PAVED_TOKEN. It exits non-zero when a
// measurement cannot be taken at all, not when a target is missed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

const providerExe = "terraform-provider-paved"

type options struct {
	tofu, providerDir, endpoint, token string
	sizes                              []int
	apps, plans                        int
	work                               string
	parallelism                        int
	sampleEvery                        time.Duration
	targetSize                         int
	target                             time.Duration
	linearFactor                       float64
	timeout                            time.Duration
	repro                              string
}

func main() {
	var o options
	var sizes string
	flag.StringVar(&o.tofu, "tofu", "", "OpenTofu binary (scripts/install-tofu.sh prints it)")
	flag.StringVar(&o.providerDir, "provider-dir", "bin", "directory holding the "+providerExe+" build (the dev_overrides target)")
	flag.StringVar(&o.endpoint, "endpoint", os.Getenv("PAVED_ENDPOINT"), "cell API URL (default $PAVED_ENDPOINT)")
	flag.StringVar(&o.token, "token", "", "API token (default $PAVED_TOKEN)")
	flag.StringVar(&sizes, "sizes", "100,300,1000", "numbers of paved_space resources, comma-separated")
	flag.IntVar(&o.plans, "plans", 3, "plans per size; the report gives the median with min and max")
	flag.IntVar(&o.apps, "apps", 100, "paved_app resources (instances = 0) in every configuration")
	flag.StringVar(&o.work, "work", "", "directory for the generated configurations (default: a temporary one, removed)")
	flag.IntVar(&o.parallelism, "parallelism", 0, "tofu -parallelism (0 = OpenTofu's default)")
	flag.DurationVar(&o.sampleEvery, "sample-every", 50*time.Millisecond, "RSS polling interval")
	flag.IntVar(&o.targetSize, "target-size", 1000, "the size the time target applies to")
	flag.DurationVar(&o.target, "target", 20*time.Second, "target plan time at --target-size")
	flag.Float64Var(&o.linearFactor, "linear-factor", 1.5, "linear: seconds per 100 resources at the largest size ≤ this × at the smallest")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound on one tofu command")
	flag.StringVar(&o.repro, "repro", "", "command line to print as the way to reproduce (default: this program's)")
	flag.Parse()
	if o.token == "" {
		o.token = os.Getenv("PAVED_TOKEN")
	}
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fatalf("--sizes: %q is not a positive number", f)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.tofu == "" || o.apps < 0 {
		fatalf("--tofu is required and --apps may not be negative")
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
	fmt.Fprintf(os.Stderr, "planscale: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "planscale: "+format+"\n", args...)
}

type bench struct {
	o       options
	c       *paved.Client
	env     []string
	rc      string // CLI config path
	version string // tofu version line
}

// result is one size.
type result struct {
	size, resources int
	apply, plan     time.Duration // plan: the median of the plans
	planSpread      benchkit.Spread
	destroy         time.Duration
	planExit        int
	planSummary     string
	planChanges     []string
	rss, hwm        int64
	procs, samples  int
	left            string // what the cell still held after destroy, when not empty
	err             string
}

func run(ctx context.Context, o options) (string, error) {
	if o.endpoint == "" {
		return "", errors.New("--endpoint (or $PAVED_ENDPOINT) is required")
	}
	u, err := url.Parse(o.endpoint)
	if err != nil {
		return "", fmt.Errorf("--endpoint: %w", err)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("--endpoint %s is not a loopback address; this benchmark only runs against a local cell", o.endpoint)
	}
	if o.tofu, err = filepath.Abs(o.tofu); err != nil {
		return "", err
	}
	if o.providerDir, err = filepath.Abs(o.providerDir); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(o.providerDir, providerExe)); err != nil {
		return "", fmt.Errorf("no provider build in %s: %w (go build -o bin/%s .)", o.providerDir, err, providerExe)
	}
	c, err := paved.NewClient(paved.Config{Endpoint: o.endpoint, Token: o.token})
	if err != nil {
		return "", err
	}
	if _, err := c.Health(ctx); err != nil {
		return "", fmt.Errorf("cell health: %w", err)
	}
	if _, err := c.Spaces.List(ctx); err != nil {
		return "", fmt.Errorf("the token does not work: %w", err)
	}
	if o.work == "" {
		dir, err := os.MkdirTemp("", "paved-planscale")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	if o.work, err = filepath.Abs(o.work); err != nil {
		return "", err
	}
	b := &bench{o: o, c: c, rc: filepath.Join(o.work, "dev.tofurc")}
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"registry.opentofu.org/pavedroad/paved\" = %q\n  }\n  direct {}\n}\n", o.providerDir)
	if err := os.WriteFile(b.rc, []byte(rc), 0o644); err != nil {
		return "", err
	}
	b.env = tofuEnv(b.rc, o.endpoint, o.token)
	vcmd := exec.CommandContext(ctx, o.tofu, "version")
	vcmd.Dir, vcmd.Env = o.work, b.env
	if out, err := vcmd.CombinedOutput(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "OpenTofu v") || strings.HasPrefix(line, "Terraform v") {
				b.version = strings.TrimSpace(line)
				break
			}
		}
	}

	var results []result
	for _, n := range o.sizes {
		r := b.size(ctx, n)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		results = append(results, r)
	}
	return b.report(results), nil
}

// tofuEnv is the environment of every tofu command: ours without TF_*
// settings that could change what is measured, plus the CLI config, the
// cell and non-interactive mode.
func tofuEnv(rc, endpoint, token string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TF_") || k == "PAVED_ENDPOINT" || k == "PAVED_TOKEN" || k == "CHECKPOINT_DISABLE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1",
		"PAVED_ENDPOINT="+endpoint, "PAVED_TOKEN="+token)
}

// config is the generated configuration of one size: n spaces and the apps,
// spread over the spaces.
func config(n, apps int) string {
	var sb strings.Builder
	sb.WriteString("terraform {\n  required_providers {\n    paved = { source = \"pavedroad/paved\" }\n  }\n}\n\n")
	sb.WriteString("# endpoint and token from $PAVED_ENDPOINT and $PAVED_TOKEN\nprovider \"paved\" {}\n")
	for i := range n {
		fmt.Fprintf(&sb, "\nresource \"paved_space\" \"s%04d\" {\n  name   = \"ps%d-s%04d\"\n  labels = { bench = \"planscale\" }\n}\n", i, n, i)
	}
	for i := range apps {
		fmt.Fprintf(&sb, "\nresource \"paved_app\" \"a%03d\" {\n  space     = paved_space.s%04d.name\n  name      = \"app%03d\"\n  command   = \"true\"\n  instances = 0\n}\n", i, i%n, i)
	}
	return sb.String()
}

func (b *bench) size(ctx context.Context, n int) result {
	r := result{size: n, resources: n + b.o.apps, planExit: -1}
	dir := filepath.Join(b.o.work, fmt.Sprintf("size-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.err = err.Error()
		return r
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config(n, b.o.apps)), 0o644); err != nil {
		r.err = err.Error()
		return r
	}
	logf("size %d (%d resources): apply", n, r.resources)
	res := b.tofuRun(ctx, dir, false, "apply", "-auto-approve", "-input=false", "-no-color")
	r.apply = res.dur
	if res.exit != 0 {
		r.err = fmt.Sprintf("apply failed (exit %d): %s", res.exit, lastLines(res.out, 8))
		b.destroy(ctx, dir, &r)
		return r
	}
	args := []string{"plan", "-refresh=true", "-detailed-exitcode", "-input=false", "-no-color"}
	if b.o.parallelism > 0 {
		args = append(args, "-parallelism="+strconv.Itoa(b.o.parallelism))
	}
	// The same unchanged configuration is planned --plans times; the time
	// reported is the median, the RSS the largest seen in any plan.
	var times []float64
	for i := 1; i <= b.o.plans; i++ {
		logf("size %d: plan %d of %d", n, i, b.o.plans)
		res = b.tofuRun(ctx, dir, true, args...)
		times = append(times, res.dur.Seconds())
		if res.exit != 0 || r.planExit < 0 {
			r.planExit = res.exit
			r.planSummary, r.planChanges = planSummary(res.out)
		}
		r.rss, r.hwm = max(r.rss, res.rss), max(r.hwm, res.hwm)
		r.procs, r.samples = max(r.procs, res.procs), r.samples+res.samples
		if res.exit == 1 || res.exit < 0 {
			r.err = fmt.Sprintf("plan failed (exit %d): %s", res.exit, lastLines(res.out, 8))
			break
		}
	}
	r.planSpread = benchkit.SpreadOf(times)
	r.plan = time.Duration(r.planSpread.Median * float64(time.Second))
	logf("size %d: plan %.2f s, exit %d, provider max RSS %.1f MiB", n, r.plan.Seconds(), r.planExit, mib(r.rss))
	b.destroy(ctx, dir, &r)
	return r
}

func (b *bench) destroy(ctx context.Context, dir string, r *result) {
	if ctx.Err() != nil {
		return
	}
	logf("size %d: destroy", r.size)
	res := b.tofuRun(ctx, dir, false, "destroy", "-auto-approve", "-input=false", "-no-color")
	r.destroy = res.dur
	if res.exit != 0 {
		msg := fmt.Sprintf("destroy failed (exit %d): %s", res.exit, lastLines(res.out, 8))
		if r.err != "" {
			r.err += "; " + msg
		} else {
			r.err = msg
		}
	}
	if h, err := b.c.Health(ctx); err == nil && (h.Counts.Spaces > 0 || h.Counts.Apps > 0) {
		r.left = fmt.Sprintf("%d spaces, %d apps", h.Counts.Spaces, h.Counts.Apps)
	}
}

type runResult struct {
	exit           int
	dur            time.Duration
	out            []byte
	rss, hwm       int64
	procs, samples int
}

// tofuRun runs one tofu command in dir, logging its output to dir. It runs
// in its own process group: an interrupt is passed on to tofu (which stops
// its providers), and whatever of the group is left afterwards is killed.
func (b *bench) tofuRun(ctx context.Context, dir string, sample bool, args ...string) runResult {
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, b.o.tofu, args...)
	cmd.Dir, cmd.Env = dir, b.env
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 15 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return runResult{exit: -1, out: []byte(err.Error())}
	}
	var s *rssSampler
	if sample {
		s = startRSSSampler(cmd.Process.Pid, providerExe, b.o.sampleEvery)
	}
	err := cmd.Wait()
	r := runResult{dur: time.Since(start), out: out.Bytes(), exit: cmd.ProcessState.ExitCode()}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of the group, if any (ESRCH: none)
	if s != nil {
		r.rss, r.hwm, r.procs, r.samples = s.finish()
	}
	if err != nil && r.exit == 0 {
		r.exit = -1
	}
	if err := os.WriteFile(filepath.Join(dir, args[0]+".log"), r.out, 0o644); err != nil {
		logf("keep the output of tofu %s: %v", args[0], err)
	}
	return r
}

var (
	planLine   = regexp.MustCompile(`(?m)^Plan: .*$`)
	changeLine = regexp.MustCompile(`(?m)^\s*# (\S+) (will|must) be .*$`)
)

// planSummary returns the plan's "Plan: …" or "No changes." line and the
// resources it would change.
func planSummary(out []byte) (string, []string) {
	var changes []string
	for _, m := range changeLine.FindAll(out, -1) {
		changes = append(changes, strings.TrimSpace(string(m)))
	}
	if m := planLine.Find(out); m != nil {
		return string(m), changes
	}
	if bytes.Contains(out, []byte("No changes.")) {
		return "No changes.", changes
	}
	return "", changes
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var keep []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, " / ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
