package main

import (
	"fmt"
	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func per100(r result) float64 { return r.plan.Seconds() / (float64(r.resources) / 100) }

func (r result) measured() bool { return r.planExit == 0 || r.planExit == 2 }

func emptyPlan(r result) string {
	switch r.planExit {
	case 0:
		return "yes"
	case 2:
		return "**no**: " + mdEscape(r.planSummary)
	case -1:
		return "not run"
	default:
		return fmt.Sprintf("**error** (exit %d)", r.planExit)
	}
}

func (b *bench) report(results []result) string {
	o := b.o
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }

	w("## OpenTofu plan at scale\n\n")
	w("`tofu plan -refresh=true -detailed-exitcode` of an applied, unchanged configuration of N `paved_space` "+
		"resources plus %d `paved_app` resources (`instances = 0`, `command = \"true\"`, no source), against a "+
		"throwaway cell, with the local provider build through a `dev_overrides` CLI config and OpenTofu's default "+
		"`-parallelism`%s. The provider's RSS is polled from /proc every %s during the plan (largest sample; the "+
		"kernel's peak, VmHWM, is listed below). Each size is applied once (timed separately), planned %d times "+
		"(the median is the figure; min–max beside it), and destroyed.\n\n",
		o.apps, parallelismNote(o.parallelism), o.sampleEvery, o.plans)
	w("- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	w("- Machine: %s; Go %s; %s\n\n", benchkit.Machine(), strings.TrimPrefix(runtime.Version(), "go"), benchkit.OrDash(b.version))
	w("```sh\n")
	if o.repro != "" {
		w("%s\n", o.repro)
		w("# which builds the provider, starts a cell on free loopback ports and runs:\n")
	}
	w("%s\n", benchkit.CommandLine("planscale"))
	w("# which runs, per size, in a fresh directory holding the generated main.tf\n")
	w("# (TF_CLI_CONFIG_FILE=dev.tofurc with dev_overrides → the provider build, PAVED_ENDPOINT/PAVED_TOKEN → the cell):\n")
	w("tofu apply -auto-approve -input=false -no-color\n")
	plan := "tofu plan -refresh=true -detailed-exitcode -input=false -no-color"
	if o.parallelism > 0 {
		plan += fmt.Sprintf(" -parallelism=%d", o.parallelism)
	}
	w("%s   # timed, %d times\n", plan, o.plans)
	w("tofu destroy -auto-approve -input=false -no-color\n```\n\n")

	w("| size | plan seconds, median (min–max) | provider max RSS MiB | empty plan? | seconds per 100 resources |\n")
	w("|---|---:|---:|---|---:|\n")
	for _, r := range results {
		label := fmt.Sprintf("%d spaces + %d apps (%d resources)", r.size, o.apps, r.resources)
		if !r.measured() {
			w("| %s | — | — | %s | — |\n", label, emptyPlan(r))
			continue
		}
		w("| %s | %s | %.1f | %s | %.3f |\n", label, r.planSpread.Format("%.2f"), mib(r.rss), emptyPlan(r), per100(r))
	}
	w("\n")

	w("Also measured (not part of the target):\n\n")
	w("| size | apply seconds | destroy seconds | provider VmHWM MiB | provider processes seen in the plans | RSS samples |\n")
	w("|---|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		w("| %d + %d | %.2f | %.2f | %.1f | %d | %d |\n", r.size, o.apps, r.apply.Seconds(), r.destroy.Seconds(), mib(r.hwm), r.procs, r.samples)
	}
	w("\n")
	for _, r := range results {
		if r.err != "" {
			w("- size %d: %s\n", r.size, mdEscape(r.err))
		}
		if r.planExit == 2 {
			w("- size %d: the plan of the unchanged configuration is not empty: %s", r.size, mdEscape(r.planSummary))
			if len(r.planChanges) > 0 {
				shown := r.planChanges
				if len(shown) > 5 {
					shown = shown[:5]
				}
				w(" (%d resources, e.g. `%s`)", len(r.planChanges), mdEscape(strings.Join(shown, "`, `")))
			}
			w("\n")
		}
		if r.left != "" {
			w("- size %d: after destroy the cell still held %s\n", r.size, r.left)
		}
	}

	// ---------------------------------------------------------- verdict --
	var measured []result
	allEmpty := true
	for _, r := range results {
		if r.measured() {
			measured = append(measured, r)
		}
		allEmpty = allEmpty && r.planExit == 0
	}
	timeOK, timeRun, timeText := false, false, fmt.Sprintf("size %d was not measured (sizes run: %s)", o.targetSize, sizesText(results))
	for _, r := range measured {
		if r.size == o.targetSize {
			timeRun = true
			timeOK = r.plan <= o.target
			timeText = fmt.Sprintf("%d spaces + %d apps (%d resources): %.2f s (%s %s)", r.size, o.apps, r.resources,
				r.plan.Seconds(), map[bool]string{true: "≤", false: ">"}[timeOK], o.target)
		}
	}
	linOK, linText := false, "needs at least two measured sizes"
	if len(measured) >= 2 {
		small, large := measured[0], measured[0]
		for _, r := range measured {
			if r.resources < small.resources {
				small = r
			}
			if r.resources > large.resources {
				large = r
			}
		}
		ratio := per100(large) / per100(small)
		linOK = ratio <= o.linearFactor
		linText = fmt.Sprintf("seconds per 100 resources %.3f at %d resources vs %.3f at %d = %.2f× (%s %.1f×)",
			per100(large), large.resources, per100(small), small.resources, ratio,
			map[bool]string{true: "≤", false: ">"}[linOK], o.linearFactor)
		if slopes := marginal(measured); slopes != "" {
			linText += "; marginal cost: " + slopes
		}
	}
	verdict := "FAIL"
	switch {
	case !timeRun && linOK:
		verdict = "INCOMPLETE"
	case timeOK && linOK:
		verdict = "PASS"
	}
	timeVerdict := benchkit.PassFail(timeOK)
	if !timeRun {
		timeVerdict = "n/a"
	}
	w("\n**Verdict \"%s resources ≤ %s, linear\": %s**\n\n", thousands(o.targetSize), o.target, verdict)
	w("- time: %s — %s\n", timeText, timeVerdict)
	w("- linear: %s — %s\n", linText, benchkit.PassFail(linOK))
	w("- every plan empty: %s\n", benchkit.PassFail(allEmpty))
	return sb.String()
}

// marginal is the extra plan time per 100 extra resources between
// consecutive measured sizes.
func marginal(rs []result) string {
	var parts []string
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if b.resources == a.resources {
			continue
		}
		s := (b.plan.Seconds() - a.plan.Seconds()) / (float64(b.resources-a.resources) / 100)
		parts = append(parts, fmt.Sprintf("%d→%d resources %.3f s per 100", a.resources, b.resources, s))
	}
	return strings.Join(parts, ", ")
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func sizesText(rs []result) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprint(r.size))
	}
	return strings.Join(parts, ", ")
}

func parallelismNote(p int) string {
	if p > 0 {
		return fmt.Sprintf(" (here `-parallelism=%d`)", p)
	}
	return " (10)"
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
