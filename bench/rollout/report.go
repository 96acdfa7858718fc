package main

import (
	"fmt"
	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// canaryResult is the client-side view of a canary that should roll back.
type canaryResult struct {
	marker              string // "-APP-RELEASE-" in X-Paved-Instance
	newTotal, newFailed int
	otherFailed         int
	firstNew, lastNew   time.Time
	crossed             bool
	crossedAt           time.Time
	crossN, crossE      int
	decided             time.Time // the cell's "rolling back" event, if found
	decidedNote         string
	cellWatchStarted    time.Time
	rollbackDur         time.Duration
	otherFirstErr       string
	newAfterSettle      int
}

// analyzeCanary finds the first moment the canary's responses (those of
// new-release instances, in order of completion, counted from the first
// one) number at least min_requests with an error share above
// max_error_rate, and the last response a new-release instance served.
func analyzeCanary(p *phase, o options) canaryResult {
	r := canaryResult{marker: fmt.Sprintf("-%s-%d-", o.app, p.release)}
	for _, s := range p.samples {
		if !strings.Contains(s.inst, r.marker) {
			if !s.ok() {
				r.otherFailed++
				if r.otherFirstErr == "" {
					if s.status == 0 {
						r.otherFirstErr = s.err
					} else {
						r.otherFirstErr = fmt.Sprintf("HTTP %d from %s", s.status, orNone(s.inst))
					}
				}
			}
			continue
		}
		if r.newTotal == 0 {
			r.firstNew = s.end
		}
		r.newTotal++
		if !s.ok() {
			r.newFailed++
		}
		r.lastNew = s.end
		if s.end.After(p.settled) {
			r.newAfterSettle++
		}
		if !r.crossed && r.newTotal >= o.minRequests && float64(r.newFailed) > o.maxErrorRate*float64(r.newTotal) {
			r.crossed, r.crossedAt, r.crossN, r.crossE = true, s.end, r.newTotal, r.newFailed
		}
	}
	if r.crossed {
		r.rollbackDur = r.lastNew.Sub(r.crossedAt)
	}
	if p.dep != nil {
		for _, e := range p.dep.Events {
			if r.cellWatchStarted.IsZero() && strings.Contains(e.Detail, "watching for") {
				r.cellWatchStarted = e.Time
			}
			if r.decided.IsZero() && strings.Contains(e.Detail, "rolling back") {
				r.decided, r.decidedNote = e.Time, e.Detail
			}
		}
	}
	return r
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func ms(d time.Duration) string   { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

func releases(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("release %d: %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func statuses(s summary) string {
	var parts []string
	keys := make([]int, 0, len(s.byStatus))
	for k := range s.byStatus {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("HTTP %d ×%d", k, s.byStatus[k]))
	}
	if s.transport > 0 {
		parts = append(parts, fmt.Sprintf("transport errors ×%d", s.transport))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
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

// report renders the section: what ran, a table of every run with the
// medians, then run 1 in detail. The verdict holds only if every run met
// every target.
func report(o options, cellVersion string, runs []runResult) string {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }

	w("## Rollouts under load\n\n")
	w("examples/hello ×%d (route `%s`, http health check `/healthz` every 200ms) on a throwaway cell; "+
		"an open-loop load of %s req/s (`GET /`, Host `%s`, %d keep-alive workers fed by a 1 ms ticker, loopback) "+
		"through the router from %s before each change to %s after the app settled. "+
		"%d runs, each with a fresh app; figures are medians with min–max.\n\n",
		o.instances, o.host, strconv.FormatFloat(o.rate, 'f', -1, 64), o.host, o.workers, o.warmup, o.tail, len(runs))
	w("- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	w("- Machine: %s; Go %s; cell %s\n\n", benchkit.Machine(), strings.TrimPrefix(runtime.Version(), "go"), benchkit.OrDash(cellVersion))
	w("```sh\n")
	if o.repro != "" {
		w("%s\n", o.repro)
		w("# which runs, against the cell it starts on free loopback ports:\n")
	}
	w("%s\n```\n\n", benchkit.CommandLine("rollout"))

	all := true
	var details []string
	var failedA, durA, rbDur, settleC, otherC []float64
	perRun := []benchkit.Row{}
	for i, r := range runs {
		var d strings.Builder
		okA, sa := detailRolling(&d, r.o, r.a)
		okC, sc, cr := detailCanary(&d, r.o, r.c)
		all = all && okA && okC
		details = append(details, d.String())
		failedA = append(failedA, float64(sa.failed))
		durA = append(durA, r.a.settled.Sub(r.a.accepted).Seconds())
		rb := "never crossed"
		if cr.crossed {
			rbDur = append(rbDur, cr.rollbackDur.Seconds())
			rb = secs(cr.rollbackDur)
		}
		settleC = append(settleC, r.c.settled.Sub(r.c.accepted).Seconds())
		otherC = append(otherC, float64(cr.otherFailed))
		perRun = append(perRun, benchkit.Row{
			fmt.Sprintf("run %d", i+1),
			fmt.Sprintf("%d of %d failed; settled in %s", sa.failed, sa.total, secs(r.a.settled.Sub(r.a.accepted))),
			fmt.Sprintf("%s; %s; %d of %d failed outside the canary", rb, r.c.dep.Status, cr.otherFailed, sc.total-cr.newTotal),
			benchkit.PassFail(okA && okC),
		})
	}
	w("### Every run\n\n")
	w("| run | a. rolling deploy | b. canary: threshold → last canary response; outcome | verdict |\n|---|---|---|---|\n")
	for _, r := range perRun {
		w("| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	w("\n")
	rbSpread := "threshold never crossed"
	if len(rbDur) > 0 {
		rbSpread = benchkit.SpreadOf(rbDur).Format("%.2f") + " s"
	}
	fa := benchkit.SpreadOf(failedA)
	oc := benchkit.SpreadOf(otherC)
	rbMax := 0.0
	if len(rbDur) > 0 {
		rbMax = benchkit.SpreadOf(rbDur).Max
	}
	rows := []benchkit.Row{
		{"a. failed requests during the rolling deploy", fa.Format("%.0f"), "0", benchkit.PassFail(fa.Max == 0)},
		{"a. rollout duration, s (update accepted → settled)", benchkit.SpreadOf(durA).Format("%.2f"), "—", "info"},
		{"b. canary rollback: threshold crossed → last canary response", rbSpread, "≤ " + secs(o.rollbackTarget),
			benchkit.PassFail(len(rbDur) == len(runs) && rbMax <= o.rollbackTarget.Seconds())},
		{"b. update accepted → app settled (rolled back), s", benchkit.SpreadOf(settleC).Format("%.2f"), "—", "info"},
		{"b. failed requests not served by the canary", oc.Format("%.0f"), "0", benchkit.PassFail(oc.Max == 0)},
	}
	w("### Medians of %d runs (min–max)\n\n%s\n", len(runs), benchkit.Table(rows))
	w("### Run 1 in detail\n\n%s", details[0])
	w("**Verdict: %s** (in every run: 0 failed requests in the rolling deploy; canary rolled back with its last response ≤ %s after the threshold, and no failure outside the canary).\n",
		map[bool]string{true: "PASS", false: "FAIL"}[all], secs(o.rollbackTarget))
	return sb.String()
}

// detailRolling writes phase a of one run; ok is its verdict.
func detailRolling(sb *strings.Builder, o options, a *phase) (ok bool, sa summary) {
	w := func(format string, args ...any) { fmt.Fprintf(sb, format, args...) }
	var verdicts []bool
	// ---------------------------------------------------------------- a --
	sa = summarize(a.samples, o.space, o.app)
	rollout := a.settled.Sub(a.accepted)
	achieved := float64(sa.total) / a.loadDur.Seconds()
	settledOK := a.after.Status == paved.AppRunning && a.after.Release == a.release && a.release > a.oldRelease &&
		a.after.RunningCount == o.instances && a.dep.Status == paved.DeploymentSucceeded
	verdicts = append(verdicts, sa.failed == 0, settledOK)
	w("#### a. Rolling deploy under load\n\n")
	w("Strategy `rolling`, `max_in_flight = \"25%%\"`; `GREETING` changes, so release %d replaces release %d.\n\n", a.release, a.oldRelease)
	serverSide := "n/a"
	if a.dep.FinishedAt != nil {
		serverSide = secs(a.dep.FinishedAt.Sub(a.dep.StartedAt))
	}
	rows := []benchkit.Row{
		{"failed requests (non-200 or transport errors), whole load window", fmt.Sprintf("%d of %d", sa.failed, sa.total), "0", benchkit.PassFail(sa.failed == 0)},
		{"app settled on the new release", fmt.Sprintf("release %d, %s, %d/%d healthy, deployment %s", a.after.Release, a.after.Status, a.after.RunningCount, o.instances, a.dep.Status),
			fmt.Sprintf("release %d, running", a.release), benchkit.PassFail(settledOK)},
		{"rollout duration (update accepted → app settled on the new release)", secs(rollout), "—", "info"},
		{"deployment duration at the cell (started → finished)", serverSide, "—", "info"},
		{"achieved load", fmt.Sprintf("%.0f req/s over %s (offered %s)", achieved, secs(a.loadDur), strconv.FormatFloat(o.rate, 'f', -1, 64)), "offered rate", rateVerdict(achieved, o.rate)},
		{"requests not sent (every worker busy)", strconv.FormatInt(a.skipped, 10), "0", benchkit.OkOr(a.skipped == 0, "generator saturated")},
		{"latency p50 / p99 / max", fmt.Sprintf("%s / %s / %s ms", ms(sa.p50), ms(sa.p99), ms(sa.max)), "—", "info"},
	}
	w("%s\n", benchkit.Table(rows))
	w("- Responses by release: %s", releases(sa.byRelease))
	if sa.unattributed > 0 {
		w("; without an instance id: %d", sa.unattributed)
	}
	w(".\n")
	if sa.failed > 0 {
		w("- Failures: %s; first: `%s`.\n", statuses(sa), mdEscape(sa.firstErr))
		w("- When they happened (response completion, relative to the update being accepted): %s.\n", failureTimeline(a))
	}
	w("\n")

	return allTrue(verdicts), sa
}

// detailCanary writes phase b of one run; ok is its verdict.
func detailCanary(sb *strings.Builder, o options, c *phase) (ok bool, sc summary, cr canaryResult) {
	w := func(format string, args ...any) { fmt.Fprintf(sb, format, args...) }
	var verdicts []bool
	// ---------------------------------------------------------------- b --
	sc = summarize(c.samples, o.space, o.app)
	cr = analyzeCanary(c, o)
	achievedC := float64(sc.total) / c.loadDur.Seconds()
	rolledBack := c.dep.Status == paved.DeploymentRolledBack && c.after.Release == c.oldRelease
	rbOK := cr.crossed && cr.rollbackDur <= o.rollbackTarget
	verdicts = append(verdicts, rbOK, rolledBack, cr.otherFailed == 0)
	w("#### b. Canary rollback under load\n\n")
	w("Strategy `canary`, one step `{weight %d, watch %s}`, `max_error_rate %s`, `min_requests %d`; "+
		"`FAIL_EVERY=2` makes release %d answer 500 to every 2nd request. "+
		"The threshold is computed client-side: the first response after which the responses of new-release instances "+
		"(`X-Paved-Instance` contains `%s`), counted from the first, number at least %d and more than %s of them failed.\n\n",
		o.canaryWeight, o.canaryWatch, strconv.FormatFloat(o.maxErrorRate, 'f', -1, 64), o.minRequests, c.release, cr.marker,
		o.minRequests, pct(o.maxErrorRate))
	rbValue := "threshold never crossed"
	if cr.crossed {
		rbValue = secs(cr.rollbackDur)
	}
	rows := []benchkit.Row{
		{"threshold crossed → last response from a new-release instance", rbValue, "≤ " + secs(o.rollbackTarget), benchkit.PassFail(rbOK)},
		{"rolled back", fmt.Sprintf("deployment %s; app on release %d (%s)", c.dep.Status, c.after.Release, c.after.Status),
			fmt.Sprintf("rolled_back, release %d", c.oldRelease), benchkit.PassFail(rolledBack)},
		{"failed requests, all", fmt.Sprintf("%d of %d", sc.failed, sc.total), "—", "info"},
		{"failed requests served by the canary", fmt.Sprintf("%d of %d canary responses", cr.newFailed, cr.newTotal), "—", "info"},
		{"failed requests not served by the canary (old release, router, transport)", strconv.Itoa(cr.otherFailed), "0", benchkit.PassFail(cr.otherFailed == 0)},
		{"update accepted → app settled (rolled back)", secs(c.settled.Sub(c.accepted)), "—", "info"},
		{"achieved load", fmt.Sprintf("%.0f req/s over %s (offered %s)", achievedC, secs(c.loadDur), strconv.FormatFloat(o.rate, 'f', -1, 64)), "offered rate", rateVerdict(achievedC, o.rate)},
		{"requests not sent (every worker busy)", strconv.FormatInt(c.skipped, 10), "0", benchkit.OkOr(c.skipped == 0, "generator saturated")},
	}
	w("%s\n", benchkit.Table(rows))
	w("Timeline (relative to the update being accepted):\n\n")
	if cr.newTotal > 0 {
		w("- first canary response: %s\n", rel(cr.firstNew, c.accepted))
	}
	if !cr.cellWatchStarted.IsZero() {
		w("- the cell started watching the canary: %s\n", rel(cr.cellWatchStarted, c.accepted))
	}
	if cr.crossed {
		w("- threshold crossed (client-side): %s, after %d canary responses, %d failed\n", rel(cr.crossedAt, c.accepted), cr.crossN, cr.crossE)
	}
	if !cr.decided.IsZero() {
		w("- the cell decided to roll back: %s", rel(cr.decided, c.accepted))
		if cr.crossed {
			w(" (%s after the threshold)", secs(cr.decided.Sub(cr.crossedAt)))
		}
		w(": %s\n", mdEscape(cr.decidedNote))
	}
	if cr.newTotal > 0 {
		w("- last canary response: %s\n", rel(cr.lastNew, c.accepted))
	}
	w("- app settled: %s\n", rel(c.settled, c.accepted))
	if cr.newAfterSettle > 0 {
		w("- canary responses after the app reported settled: %d\n", cr.newAfterSettle)
	}
	if c.dep.Reason != "" {
		w("\nThe cell's reason: %s\n", mdEscape(c.dep.Reason))
	}
	w("\nResponses by release: %s.", releases(sc.byRelease))
	if sc.failed > 0 {
		w(" Failures: %s.", statuses(sc))
	}
	if cr.otherFailed > 0 {
		w(" First failure not from the canary: `%s`.", mdEscape(cr.otherFirstErr))
	}
	w("\n\n")

	return allTrue(verdicts), sc, cr
}

func allTrue(vs []bool) bool {
	for _, v := range vs {
		if !v {
			return false
		}
	}
	return true
}

// failureTimeline buckets the failed requests of a phase by 500 ms.
func failureTimeline(p *phase) string {
	buckets := map[int]int{}
	for _, s := range p.samples {
		if !s.ok() {
			buckets[int(s.end.Sub(p.accepted).Milliseconds()/500)]++
		}
	}
	keys := make([]int, 0, len(buckets))
	for k := range buckets {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%+.1f s: %d", float64(k)*0.5, buckets[k]))
	}
	if len(parts) > 20 {
		parts = append(parts[:20], "…")
	}
	return strings.Join(parts, ", ")
}

func rel(t, base time.Time) string { return fmt.Sprintf("%+.2f s", t.Sub(base).Seconds()) }

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + "%" }

func rateVerdict(achieved, offered float64) string {
	if achieved >= 0.95*offered {
		return "ok"
	}
	return "below offered"
}
