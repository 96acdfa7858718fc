package main

import (
	"fmt"
	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// percentile is the nearest-rank percentile of ds (0 when empty).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func maxOf(ds []time.Duration) time.Duration { return percentile(ds, 1) }

func ms(d time.Duration) string {
	if d >= 10*time.Second || d <= -10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func countOver(ds []time.Duration, limit time.Duration) int {
	n := 0
	for _, d := range ds {
		if d > limit {
			n++
		}
	}
	return n
}

// mdEscape keeps an error text from breaking a table or a code span.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "`", "'")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

type latRow struct {
	metric string
	ds     []time.Duration
	target string
	ok     *bool // nil: info
}

func latTable(rows []latRow) string {
	var sb strings.Builder
	// Every commit is one measurement: p50 is the median of the n runs,
	// shown with the min and max.
	sb.WriteString("| metric | n | min | p50 (median) | p95 | max | target | verdict |\n|---|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		verdict := "info"
		if r.ok != nil {
			verdict = benchkit.PassFail(*r.ok)
		}
		target := r.target
		if target == "" {
			target = "—"
		}
		fmt.Fprintf(&sb, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", r.metric, len(r.ds),
			ms(percentile(r.ds, 0)), ms(percentile(r.ds, 0.5)), ms(percentile(r.ds, 0.95)), ms(maxOf(r.ds)), target, verdict)
	}
	return sb.String()
}

func ptr(b bool) *bool { return &b }

// engineTick is how late a due check can start: the cell's pipeline loop
// sleeps until the next source is due, so a check starts on time.
const engineTick = 0 * time.Millisecond

func (b *bench) report(r results) string {
	o := b.o
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }

	w("## Pipelines: commit → build start\n\n")
	w("A throwaway cell; every pipeline has one `git` source (a local repository this benchmark makes with the git CLI, "+
		"branch `main`) and one job `build`: `get: repo, trigger: true` and `task: noop, run: \"true\"`. "+
		"Commits are empty commits %s. "+
		"A build's start is its `started_at` as the cell records it; commit times are taken by the benchmark just before "+
		"the commit is made (same machine, same clock). Percentiles are nearest-rank.\n\n", commitHow())
	w("- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	w("- Machine: %s; Go %s; cell %s", benchkit.Machine(), strings.TrimPrefix(runtime.Version(), "go"), benchkit.OrDash(b.cellVersion))
	if b.loadAvg != "" {
		w("; load average at start %s (the machine is shared with other work)", b.loadAvg)
	}
	w("\n\n```sh\n")
	if o.repro != "" {
		w("%s\n", o.repro)
		w("# which runs, against the cell it starts on free loopback ports:\n")
	}
	w("%s\n```\n\n", benchkit.CommandLine("pipeline"))

	var verdicts []bool
	var summary []string

	// --------------------------------------------------------------- 1 --
	w("### 1. Webhook: commit → build start\n\n")
	if h := r.webhook; h != nil {
		fc := h.durations(seqSample.fromCommit)
		ok := percentile(fc, 0.95) <= o.webhookTarget
		verdicts = append(verdicts, ok)
		summary = append(summary, fmt.Sprintf("webhook p95 %s (target ≤ %s)", ms(percentile(fc, 0.95)), ms(o.webhookTarget)))
		w("One pipeline, `check_every: 1h` (so only the webhook triggers a check). %d times, one after the other: "+
			"an empty commit, `POST` the source's webhook (`X-Paved-Webhook-Token`; the cell fetches the repository "+
			"before it answers), then poll the job's builds every %s until the build of that commit (`inputs.repo` = its sha) "+
			"has started; %s pause before the next commit.\n\n", len(h.samples), o.pollInterval, o.gap)
		w("%s\n", latTable([]latRow{
			{"commit → build start", fc, "p95 ≤ " + ms(o.webhookTarget), ptr(ok)},
			{"webhook sent → build start", h.durations(seqSample.fromHook), "", nil},
			{"webhook call (sent → 204; the check runs in the request)", h.durations(func(s seqSample) time.Duration { return s.hookDone.Sub(s.hookSent) }), "", nil},
			{"making the commit (+ reading the sha)", h.durations(func(s seqSample) time.Duration { return s.committed.Sub(s.commitStart) }), "", nil},
		}))
		w("- Commits over %s: %d of %d.\n", ms(o.webhookTarget), countOver(fc, o.webhookTarget), len(fc))
		w("- %s\n\n", buildsLine(h))
		verdicts = append(verdicts, h.duplicates == 0 && h.missing == 0)
	} else {
		w("Not run (`--parts %s`).\n\n", o.parts)
	}

	// --------------------------------------------------------------- 2 --
	w("### 2. Polling only: commit → build start\n\n")
	if p := r.poll; p != nil {
		fc := p.durations(seqSample.fromCommit)
		bound := p.checkEvery + time.Second
		within := maxOf(fc) <= bound
		w("One pipeline, `check_every: %s`, no webhook. %d commits, one after the other, each after a random pause in "+
			"[0, %s) (the effective poll period, see below) once the previous build started, so that commits land at a uniform phase of the poll. "+
			"The cell's pipeline loop sleeps until a source is due and checks it every check_every (late by at most %s), "+
			"so the effective period is check_every + %s. A commit then waits half of that on average for the next check, plus the fetch and the scheduling; "+
			"the theoretical bound is check_every + 1 s = %s.\n\n", p.checkEvery, len(p.samples), p.checkEvery+engineTick, engineTick, engineTick, secs(bound))
		w("%s\n", latTable([]latRow{
			{"commit → build start", fc, "max ≤ check_every + 1 s = " + secs(bound), ptr(within)},
		}))
		w("- Mean %s; a uniform phase of a (check_every + %s) period gives %s plus the check's own time.\n",
			ms(mean(fc)), engineTick, ms((p.checkEvery+engineTick)/2))
		w("- %s\n\n", buildsLine(p))
		verdicts = append(verdicts, within, p.duplicates == 0 && p.missing == 0)
		summary = append(summary, fmt.Sprintf("polling max %s (bound %s)", ms(maxOf(fc)), secs(bound)))
	} else {
		w("Not run (`--parts %s`).\n\n", o.parts)
	}

	// --------------------------------------------------------------- 3 --
	if l := r.load; l != nil {
		w("### 3. Scheduler load: %d pipelines × %s commit/s\n\n", o.pipelines, strconv.FormatFloat(o.rate, 'f', -1, 64))
		b.reportLoad(w, l)
		correct := l.duplicates == 0 && l.extra == 0 && l.hookErrors == 0 && len(l.commits) == l.pipelines*l.perPipeline &&
			(l.version != "every" || (l.missing == 0 && l.started == len(l.commits))) // latest may share a build
		verdicts = append(verdicts, correct)
		summary = append(summary, fmt.Sprintf("load p95 %s, %d/%d builds started, %d duplicates, %d missing",
			ms(percentile(l.fromCommit, 0.95)), l.started, len(l.commits), l.duplicates, l.missing))
	} else {
		w("### 3. Scheduler load\n\nNot run (`--parts %s`).\n\n", o.parts)
	}

	all := len(verdicts) > 0
	for _, v := range verdicts {
		all = all && v
	}
	w("**Verdict: %s** (%s; targets: webhook commit → build start p95 ≤ %s; polling within check_every + 1 s; "+
		"under load every commit builds exactly once, p95 reported; no duplicate or missing build anywhere).\n",
		map[bool]string{true: "PASS", false: "FAIL"}[all], strings.Join(summary, "; "), ms(o.webhookTarget))
	return sb.String()
}

func (b *bench) reportLoad(w func(string, ...any), l *loadResult) {
	o := b.o
	w("%d pipelines, each with its own repository and webhook (`check_every: 1h`, `get: repo, trigger: true, version: %s`, "+
		"`retain` ≥ the commits). After set-up (%s for the repositories and pipelines, %s for their first builds) ",
		l.pipelines, l.version, secs(l.setup), secs(l.initial))
	if l.idle > 0 {
		w("and an idle window of %s, ", secs(l.idle))
	}
	w("one goroutine per pipeline makes %d commits at %s/s for %s, "+
		"each followed by its webhook, sent without waiting for the previous one's answer (open loop, as a forge sends them); the pipelines are spread evenly over the second. "+
		"Builds are not polled during the load: once the commits are made, the builds are listed once a second "+
		"until every commit's build has finished, then once more after 2 s to catch a late duplicate.\n\n",
		l.perPipeline, strconv.FormatFloat(l.rate, 'f', -1, 64), l.duration)
	if l.version == "every" {
		w("`version: every` makes every commit a build of its own, so the check is exact: each commit must have exactly one build.\n\n")
	} else {
		w("With `version: latest` a build takes the newest commit, so commits that arrive together legitimately share one build: " +
			"missing builds are expected here, duplicates are not.\n\n")
	}

	w("%s\n", latTable([]latRow{
		{"commit → build start, all commits", l.fromCommit, "reported (1 s for a single pipeline)", nil},
		{"webhook sent → build start", l.fromHook, "", nil},
		{"webhook call (sent → answer)", l.hookCall, "", nil},
		{"making the commit (+ reading the sha)", l.commitCall, "", nil},
		{"generator lag (commit start − its schedule)", l.lag, "", nil},
	}))
	w("Commits over 1 s from commit to build start: %d of %d.\n\n", countOver(l.fromCommit, time.Second), len(l.fromCommit))

	every := l.version == "every"
	missingOK := l.missing == 0 || !every
	rows := []benchkit.Row{
		{"commits made (each followed by its webhook)", fmt.Sprintf("%d (%d pipelines × %d)", len(l.commits), l.pipelines, l.perPipeline), fmt.Sprintf("%d", l.pipelines*l.perPipeline), benchkit.PassFail(len(l.commits) == l.pipelines*l.perPipeline)},
		{"builds started for them", fmt.Sprintf("%d", l.started), fmt.Sprintf("%d (one per commit)", len(l.commits)), benchkit.PassFail(l.started == len(l.commits) || !every)},
		{"commits without a build (missing)", fmt.Sprintf("%d", l.missing), "0", benchkit.PassFail(missingOK)},
		{"duplicate builds (a version built twice)", fmt.Sprintf("%d", l.duplicates), "0", benchkit.PassFail(l.duplicates == 0)},
		{"builds of a version the benchmark did not commit", fmt.Sprintf("%d", l.extra), "0", benchkit.PassFail(l.extra == 0)},
		{"webhook calls that failed", fmt.Sprintf("%d", l.hookErrors), "0", benchkit.PassFail(l.hookErrors == 0)},
		{"builds finished / succeeded", fmt.Sprintf("%d / %d (all builds listed: %d, set-up ones included)", l.finished, l.succeeded, l.builds), "—", "info"},
		{"builds that did not succeed", fmt.Sprintf("%d", l.failed), "0", benchkit.OkOr(l.failed == 0, "see below")},
	}
	w("%s\n", benchkit.Table(rows))
	if len(l.dupExamples) > 0 {
		w("- Duplicates, e.g.: %s.\n", strings.Join(l.dupExamples, ", "))
	}
	if l.firstHookErr != "" {
		w("- First webhook failure: `%s`.\n", mdEscape(l.firstHookErr))
	}
	if l.firstFailure != "" {
		w("- First build that did not succeed: `%s`.\n", mdEscape(l.firstFailure))
	}
	if l.drainNote != "" {
		w("- Drain stopped early: %s.\n", l.drainNote)
	}
	if !l.lastStart.IsZero() && !l.loadEnd.IsZero() {
		w("- The last build started %s after the last webhook was answered.\n", ms(l.lastStart.Sub(l.loadEnd)))
	}
	w("\n")

	// The commits' own span: the webhooks are answered later (open loop).
	achieved := float64(len(l.commits)) / l.commitSpan.Seconds()
	rrows := []benchkit.Row{
		{"commit rate achieved", fmt.Sprintf("%.1f commits/s over %s (offered %s)", achieved, secs(l.commitSpan), strconv.FormatFloat(float64(l.pipelines)*l.rate, 'f', -1, 64)), "offered", benchkit.OkOr(achieved >= 0.95*float64(l.pipelines)*l.rate, "below offered: the generator fell behind")},
	}
	if l.idle > 0 {
		rrows = append(rrows, benchkit.Row{fmt.Sprintf("cell CPU, idle (%d pipelines, no commits, %s)", l.pipelines, secs(l.idle)),
			fmt.Sprintf("%.2f cores (%.2f with its children)", l.idleSelf, l.idleAll), "—", "info"})
	}
	rrows = append(rrows,
		benchkit.Row{"cell CPU while commits were made", fmt.Sprintf("%.2f cores (%.2f with its git/task children)", l.loadSelf, l.loadAll), "—", "info"},
		benchkit.Row{"cell CPU, first commit → every build finished", fmt.Sprintf("%.2f cores (%.2f with children) over %s", l.totalSelf, l.totalAll, secs(l.totalWall)), "—", "info"},
		benchkit.Row{"load generator CPU while commits were made (this program; with any git processes it ran)", fmt.Sprintf("%.2f cores (%.2f)", l.genSelf, l.genAll), "—", "info"},
		benchkit.Row{"cell RSS: idle / before the load / peak during it (250 ms samples) / end", fmt.Sprintf("%s / %s / %s / %s", mib(l.idleRSS), mib(l.rssBefore), mib(l.rssMax), mib(l.rssEnd)), "—", "info"},
		benchkit.Row{"cell peak RSS over its life (VmHWM)", mib(l.rssHW), "—", "info"},
	)
	w("%s\n", benchkit.Table(rrows))
	w("CPU is from `/proc/%d/stat` (utime+stime of the cell; \"with children\" adds cutime+cstime, the git fetches and build tasks "+
		"the cell ran and waited for) divided by wall time. The load generator and its git commits run on the same %d cores as the cell, "+
		"so the latencies above include waiting for CPU that the generator took: on a separate machine the cell would do better, "+
		"and these numbers are a pessimistic bound for it.\n\n", o.cellPID, runtime.NumCPU())
}

func buildsLine(r *seqResult) string {
	s := fmt.Sprintf("Builds of the job: %d for %d commits (the set-up one included); duplicates %d, missing %d, not succeeded %d",
		r.builds, len(r.samples)+1, r.duplicates, r.missing, r.failed)
	if r.firstFailure != "" {
		s += fmt.Sprintf(" (first: `%s`)", mdEscape(r.firstFailure))
	}
	return s + "."
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(len(ds))
}

// commitHow says how the benchmark makes its commits (--commit-with).
func commitHow() string {
	if commitWith == "git" {
		return "made with `git commit --allow-empty -q -m n` (no system or global git config), a process each"
	}
	return "written by the benchmark itself as git stores them (a loose commit object on the empty tree and the branch's " +
		"loose ref, replaced by rename), which costs tens of microseconds instead of a git process, so that the generator " +
		"does not take the CPU the cell is measured on; `--commit-with git` runs `git commit` instead"
}
