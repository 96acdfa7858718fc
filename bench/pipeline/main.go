// Command pipeline measures how fast paved pipelines react to commits,
// against a running cell, and prints a Markdown section with the results.
//
// It makes real git repositories (git CLI, in --work) and measures
//
//   - 1. webhook: one pipeline (git source, check_every 1h, so only the
//     webhook triggers; one job: get with trigger + a trivial task). For
//     --webhook-commits commits, one after the other: commit, POST the
//     source's webhook (path and token from Pipeline.Webhooks, header
//     X-Paved-Webhook-Token), then poll the job's builds every
//     --poll-interval until the build of that commit (Inputs["repo"] ==
//     sha) has started. Latency = StartedAt − the moment just before the
//     commit command ran (and − the moment the webhook was sent);
//   - 2. polling: the same pipeline with check_every --poll-every and no
//     webhook, --poll-commits commits, each after a random pause in
//     [0, check_every) so commits land at a uniform phase of the poll;
//     latency commit → StartedAt, compared with check_every + 1 s;
//   - 3. load: --pipelines pipelines, each with its own repository and
//     webhook, each receiving --rate commits per second for --duration
//     (cheap commits: `git commit --allow-empty -q -m n`, each followed by
//     its webhook), spread evenly over the second. It reports build-start
//     latency over all commits, builds started vs commits made (every
//     version must build exactly once: the job uses `version: every`),
//     duplicates, and the cell's CPU (/proc/PID/stat, --cell-pid) and RSS.
//
// scripts/bench-pipeline.sh starts a throwaway cell and runs it:
//
//	pipeline --endpoint http://127.0.0.1:7400 --cell-pid 1234 --work /tmp/x [--pipelines 100] [--duration 20s]
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
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

type options struct {
	endpoint, token, space, work string
	cellPID                      int
	parts                        string
	repro                        string

	webhookCommits int
	pollInterval   time.Duration
	webhookTarget  time.Duration
	gap            time.Duration

	pollCommits int
	pollEvery   time.Duration

	pipelines   int
	rate        float64
	duration    time.Duration
	idle        time.Duration
	drain       time.Duration
	loadVersion string
	setupJobs   int

	buildTimeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", os.Getenv("PAVED_ENDPOINT"), "cell API URL (default $PAVED_ENDPOINT)")
	flag.StringVar(&o.token, "token", "", "API token (default $PAVED_TOKEN)")
	flag.StringVar(&o.space, "space", "bench", "space to create the pipelines in")
	flag.StringVar(&o.work, "work", "", "directory for the git repositories (default: a new temporary directory, removed at the end)")
	flag.IntVar(&o.cellPID, "cell-pid", 0, "pid of the cell process, for its CPU and RSS (part 3)")
	flag.StringVar(&o.parts, "parts", "webhook,poll,load", "parts to run, comma-separated: webhook, poll, load")
	flag.StringVar(&o.repro, "repro", "", "command line to print as the way to reproduce (default: this program's)")
	flag.IntVar(&o.webhookCommits, "webhook-commits", 30, "1. commits, each followed by the webhook")
	flag.DurationVar(&o.pollInterval, "poll-interval", 5*time.Millisecond, "1./2. how often the builds are polled while waiting for a build to start")
	flag.DurationVar(&o.webhookTarget, "webhook-target", time.Second, "1. target: commit → build start")
	flag.DurationVar(&o.gap, "gap", 100*time.Millisecond, "1. pause between a build starting and the next commit")
	flag.IntVar(&o.pollCommits, "poll-commits", 10, "2. commits picked up by polling alone")
	flag.DurationVar(&o.pollEvery, "poll-every", time.Second, "2. check_every of the polled source")
	flag.IntVar(&o.pipelines, "pipelines", 100, "3. pipelines, each with its own repository and webhook")
	flag.Float64Var(&o.rate, "rate", 1, "3. commits per second per pipeline")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "3. how long commits are made")
	flag.DurationVar(&o.idle, "idle", 5*time.Second, "3. idle window before the load, to measure what idle pipelines cost (0 = skip)")
	flag.DurationVar(&o.drain, "drain", 3*time.Minute, "3. how long to wait after the last commit for every build to start and finish")
	flag.StringVar(&o.loadVersion, "load-version", "every", "3. version of the get step: every (each commit must build) or latest")
	flag.IntVar(&o.setupJobs, "setup-jobs", 4, "3. repositories created at once during set-up")
	flag.DurationVar(&o.buildTimeout, "build-timeout", 60*time.Second, "1./2. how long one build may take to start")
	flag.StringVar(&commitWith, "commit-with", "objects", "how commits are made: objects (written by this program, as git stores them) or git (`git commit --allow-empty`, a process each)")
	flag.Parse()
	if commitWith != "objects" && commitWith != "git" {
		fatalf("--commit-with is objects or git")
	}
	if o.token == "" {
		o.token = os.Getenv("PAVED_TOKEN")
	}
	if o.webhookCommits < 1 || o.pollCommits < 1 || o.pipelines < 1 || o.rate <= 0 || o.duration <= 0 || o.pollInterval <= 0 || o.pollEvery <= 0 || o.setupJobs < 1 {
		fatalf("--webhook-commits, --poll-commits, --pipelines, --rate, --duration, --poll-interval, --poll-every and --setup-jobs must be positive")
	}
	if o.loadVersion != "every" && o.loadVersion != "latest" {
		fatalf("--load-version is every or latest")
	}
	if int(o.duration.Seconds()*o.rate) < 1 {
		fatalf("--duration × --rate must make at least one commit per pipeline")
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
	fmt.Fprintf(os.Stderr, "pipeline: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pipeline: "+format+"\n", args...)
}

type bench struct {
	o           options
	c           *paved.Client
	hook        *http.Client // webhook calls: plain HTTP, no bearer token, no retries
	cellVersion string
	loadAvg     string
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
	want := map[string]bool{}
	for _, p := range strings.Split(o.parts, ",") {
		switch p = strings.TrimSpace(p); p {
		case "webhook", "poll", "load":
			want[p] = true
		case "":
		default:
			return "", fmt.Errorf("--parts: unknown part %q (webhook, poll, load)", p)
		}
	}
	if len(want) == 0 {
		return "", errors.New("--parts names no part")
	}
	if want["load"] && o.cellPID <= 0 {
		return "", errors.New("--cell-pid is required for the load part (its CPU and RSS)")
	}
	if o.cellPID > 0 {
		if _, err := readCPU(o.cellPID); err != nil {
			return "", fmt.Errorf("--cell-pid %d: %w", o.cellPID, err)
		}
	}
	if _, err := exec.LookPath("git"); err != nil {
		return "", errors.New("git is not installed")
	}
	if o.work == "" {
		dir, err := os.MkdirTemp("", "paved-bench-pipeline-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		o.work = dir
	} else if err := os.MkdirAll(o.work, 0o755); err != nil {
		return "", err
	}

	c, err := paved.NewClient(paved.Config{Endpoint: o.endpoint, Token: o.token})
	if err != nil {
		return "", err
	}
	h, err := c.Health(ctx)
	if err != nil {
		return "", fmt.Errorf("cell health: %w", err)
	}
	b := &bench{o: o, c: c, cellVersion: h.Version, loadAvg: loadAvg(),
		hook: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}}
	if _, err := c.Spaces.Create(ctx, paved.SpaceSpec{Name: o.space}); err != nil && !errors.Is(err, paved.ErrConflict) {
		return "", fmt.Errorf("create space %s: %w", o.space, err)
	}

	var r results
	if want["webhook"] {
		if r.webhook, err = b.webhookPart(ctx); err != nil {
			return "", fmt.Errorf("1. webhook: %w", err)
		}
	}
	if want["poll"] {
		if r.poll, err = b.pollPart(ctx); err != nil {
			return "", fmt.Errorf("2. polling: %w", err)
		}
	}
	if want["load"] {
		if r.load, err = b.loadPart(ctx); err != nil {
			return "", fmt.Errorf("3. load: %w", err)
		}
	}
	return b.report(r), nil
}

type results struct {
	webhook *seqResult
	poll    *seqResult
	load    *loadResult
}

// pipelineSpec is the benchmark's pipeline: one git source and one job
// (get with trigger + a trivial task).
func pipelineSpec(name, repo string, checkEvery time.Duration, version string, retain int) paved.PipelineSpec {
	return paved.PipelineSpec{
		Name:    name,
		Retain:  retain,
		Sources: []paved.SourceSpec{{Name: "repo", Type: paved.SourceGit, URI: repo, Branch: "main", CheckEvery: paved.Duration(checkEvery)}},
		Jobs: []paved.JobSpec{{Name: "build", Plan: []paved.Step{
			{Get: "repo", Trigger: true, Version: version},
			{Task: "noop", Run: "true"},
		}}},
	}
}

// webhook POSTs a source's webhook and returns the HTTP status.
func (b *bench) webhook(ctx context.Context, hook paved.Webhook) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(b.o.endpoint, "/")+hook.Path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Paved-Webhook-Token", hook.Token)
	resp, err := b.hook.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body [512]byte
	n, _ := resp.Body.Read(body[:])
	if resp.StatusCode != http.StatusNoContent {
		return resp.StatusCode, fmt.Errorf("webhook: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body[:n])))
	}
	return resp.StatusCode, nil
}

// buildOf returns the build of the job "build" whose repo input is sha,
// if there is one.
func buildOf(bs []paved.JobBuild, sha string) (paved.JobBuild, bool) {
	for _, b := range bs {
		if b.Inputs["repo"] == sha {
			return b, true
		}
	}
	return paved.JobBuild{}, false
}

// waitStarted polls the job's builds every --poll-interval until the build
// of sha has started.
func (b *bench) waitStarted(ctx context.Context, pipeline, sha string) (paved.JobBuild, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.buildTimeout)
	defer cancel()
	t := time.NewTicker(b.o.pollInterval)
	defer t.Stop()
	last := "no build yet"
	for {
		bs, err := b.c.Pipelines.Builds(ctx, b.o.space, pipeline, "build")
		if err == nil {
			if jb, ok := buildOf(bs, sha); ok {
				if jb.StartedAt != nil {
					return jb, nil
				}
				last = fmt.Sprintf("build #%d is %s", jb.Number, jb.Status)
			}
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return paved.JobBuild{}, fmt.Errorf("the build of %.12s did not start within %s: %s", sha, b.o.buildTimeout, last)
			}
			return paved.JobBuild{}, ctx.Err()
		case <-t.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// loadAvg is the 1/5/15-minute load average, to show whether the machine
// was busy with other work.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
