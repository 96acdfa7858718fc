package pipeline_test

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/pipeline"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ---------------------------------------------------------------------------
// helpers

// srcBase gives each source its own id range so that ids are unique across
// sources, as they are in the store.
var srcBase = map[string]int64{"repo": 0, "config": 1000, "image": 2000, "tools": 3000}

// vid is the id of version n (1-based) of a source.
func vid(src string, n int) int64 { return srcBase[src] + int64(n) }

// vers makes versions v1..vn of a source, oldest first.
func vers(src string, n int) []paved.SourceVersion {
	var out []paved.SourceVersion
	for i := 1; i <= n; i++ {
		out = append(out, paved.SourceVersion{ID: vid(src, i), Source: src, Version: fmt.Sprintf("v%d", i)})
	}
	return out
}

func in(src string, n int) store.Input {
	return store.Input{ID: vid(src, n), Version: fmt.Sprintf("v%d", n)}
}

func get(src string, trigger bool, passed ...string) paved.Step {
	return paved.Step{Get: src, Trigger: trigger, Passed: passed}
}

func getV(src string, trigger bool, version string, passed ...string) paved.Step {
	return paved.Step{Get: src, Trigger: trigger, Version: version, Passed: passed}
}

func task(name string) paved.Step { return paved.Step{Task: name, Run: "true"} }

func job(name string, plan ...paved.Step) paved.JobSpec {
	return paved.JobSpec{Name: name, Plan: append(plan, task("t"))}
}

func pipe(jobs ...paved.JobSpec) paved.PipelineSpec {
	return paved.PipelineSpec{
		Name: "p",
		Sources: []paved.SourceSpec{
			{Name: "repo", Type: paved.SourceGit, URI: "/r"},
			{Name: "config", Type: paved.SourceGit, URI: "/c"},
			{Name: "image", Type: paved.SourceGit, URI: "/i"},
			{Name: "tools", Type: paved.SourceGit, URI: "/t"},
		},
		Jobs: jobs,
	}
}

// past records a build of job on the given source → version number pairs.
func past(job, status string, srcN ...any) pipeline.Past {
	ids := map[string]int64{}
	for i := 0; i < len(srcN); i += 2 {
		ids[srcN[i].(string)] = vid(srcN[i].(string), srcN[i+1].(int))
	}
	return pipeline.Past{Job: job, Inputs: ids, Status: status}
}

func want(job string, srcN ...any) pipeline.Want {
	ins := map[string]store.Input{}
	for i := 0; i < len(srcN); i += 2 {
		ins[srcN[i].(string)] = in(srcN[i].(string), srcN[i+1].(int))
	}
	return pipeline.Want{Job: job, Inputs: ins}
}

func forJob(ws []pipeline.Want, job string) []pipeline.Want {
	var out []pipeline.Want
	for _, w := range ws {
		if w.Job == job {
			out = append(out, w)
		}
	}
	return out
}

func show(ws []pipeline.Want) string {
	if len(ws) == 0 {
		return "[]"
	}
	var parts []string
	for _, w := range ws {
		var ins []string
		for _, k := range sortedKeys(w.Inputs) {
			ins = append(ins, fmt.Sprintf("%s=%s#%d", k, w.Inputs[k].Version, w.Inputs[k].ID))
		}
		parts = append(parts, w.Job+"{"+strings.Join(ins, ",")+"}")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// sameWants compares as lists (order matters); nil and empty are equal.
func sameWants(got, exp []pipeline.Want) bool {
	if len(got) == 0 && len(exp) == 0 {
		return true
	}
	return reflect.DeepEqual(got, exp)
}

func checkWants(t *testing.T, what string, got, exp []pipeline.Want) {
	t.Helper()
	if !sameWants(got, exp) {
		t.Errorf("%s:\n got  %s\n want %s", what, show(got), show(exp))
	}
}

var allStatuses = []string{
	paved.BuildPending, paved.BuildRunning, paved.BuildSucceeded,
	paved.BuildFailed, paved.BuildErrored, paved.BuildAborted,
}

// ---------------------------------------------------------------------------
// table-driven semantics

type schedCase struct {
	name     string
	spec     paved.PipelineSpec
	versions map[string][]paved.SourceVersion
	past     []pipeline.Past
	job      string // only compare this job's wants ("" = all)
	want     []pipeline.Want
}

func runCases(t *testing.T, cases []schedCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := pipeline.Schedule(tc.spec, tc.versions, tc.past)
			if tc.job != "" {
				got = forJob(got, tc.job)
			}
			checkWants(t, "Schedule", got, tc.want)
		})
	}
}

func TestScheduleLatest(t *testing.T) {
	for _, version := range []string{"", "latest"} {
		t.Run("version="+version, func(t *testing.T) {
			spec := pipe(job("build", getV("repo", true, version)))
			v3 := map[string][]paved.SourceVersion{"repo": vers("repo", 3)}

			// The newest version builds once.
			checkWants(t, "first call", pipeline.Schedule(spec, v3, nil), []pipeline.Want{want("build", "repo", 3)})

			// Whatever the status of that build, nothing more is asked.
			for _, st := range allStatuses {
				p := []pipeline.Past{past("build", st, "repo", 3)}
				checkWants(t, "v3 "+st, pipeline.Schedule(spec, v3, p), nil)
			}

			// A new version builds once.
			v4 := map[string][]paved.SourceVersion{"repo": vers("repo", 4)}
			p := []pipeline.Past{past("build", paved.BuildSucceeded, "repo", 3)}
			checkWants(t, "v4 arrives", pipeline.Schedule(spec, v4, p), []pipeline.Want{want("build", "repo", 4)})
			p = append(p, past("build", paved.BuildPending, "repo", 4))
			checkWants(t, "v4 built", pipeline.Schedule(spec, v4, p), nil)

			// Older unbuilt versions are never backfilled under latest.
			checkWants(t, "v1, v2 never built", forJob(pipeline.Schedule(spec, v4, p), "build"), nil)
		})
	}
}

func TestScheduleEvery(t *testing.T) {
	spec := pipe(job("build", getV("repo", true, "every")))
	v := func(n int) map[string][]paved.SourceVersion {
		return map[string][]paved.SourceVersion{"repo": vers("repo", n)}
	}
	runCases(t, []schedCase{
		{name: "all versions oldest first", spec: spec, versions: v(3),
			want: []pipeline.Want{want("build", "repo", 1), want("build", "repo", 2), want("build", "repo", 3)}},
		{name: "skips built (any status)", spec: spec, versions: v(4),
			past: []pipeline.Past{past("build", paved.BuildFailed, "repo", 1), past("build", paved.BuildFailed, "repo", 2), past("build", paved.BuildErrored, "repo", 4)},
			want: []pipeline.Want{want("build", "repo", 3)}},
		// Retention pruned the builds of v1 and v2: the job never goes back
		// before its oldest retained build, so pruning never rebuilds a version.
		{name: "pruned builds do not build again", spec: spec, versions: v(6),
			past: []pipeline.Past{past("build", paved.BuildSucceeded, "repo", 3), past("build", paved.BuildSucceeded, "repo", 4)},
			want: []pipeline.Want{want("build", "repo", 5), want("build", "repo", 6)}},
		{name: "all built", spec: spec, versions: v(3),
			past: []pipeline.Past{
				past("build", paved.BuildSucceeded, "repo", 1),
				past("build", paved.BuildRunning, "repo", 2),
				past("build", paved.BuildPending, "repo", 3),
			}},
		{name: "new version", spec: spec, versions: v(4),
			past: []pipeline.Past{
				past("build", paved.BuildSucceeded, "repo", 1),
				past("build", paved.BuildSucceeded, "repo", 2),
				past("build", paved.BuildSucceeded, "repo", 3),
			},
			want: []pipeline.Want{want("build", "repo", 4)}},
	})

	// Each version is asked for exactly once over repeated calls.
	vs := v(5)
	var p []pipeline.Past
	var got []pipeline.Want
	for i := 0; i < 4; i++ {
		ws := pipeline.Schedule(spec, vs, p)
		got = append(got, ws...)
		for _, w := range ws {
			p = append(p, pipeline.Past{Job: w.Job, Inputs: map[string]int64{"repo": w.Inputs["repo"].ID}, Status: paved.BuildSucceeded})
		}
	}
	checkWants(t, "repeated calls", got, []pipeline.Want{
		want("build", "repo", 1), want("build", "repo", 2), want("build", "repo", 3), want("build", "repo", 4), want("build", "repo", 5),
	})
}

func TestSchedulePinned(t *testing.T) {
	spec := pipe(job("build", getV("repo", true, "v2")))
	v := func(n int) map[string][]paved.SourceVersion {
		return map[string][]paved.SourceVersion{"repo": vers("repo", n)}
	}
	runCases(t, []schedCase{
		{name: "pinned builds only that version", spec: spec, versions: v(4), want: []pipeline.Want{want("build", "repo", 2)}},
		{name: "pinned already built", spec: spec, versions: v(5),
			past: []pipeline.Past{past("build", paved.BuildFailed, "repo", 2)}},
		{name: "pinned version not there yet", spec: spec, versions: v(1)},
		{name: "pinned to an unknown version", spec: pipe(job("build", getV("repo", true, "v9"))), versions: v(4)},
		{name: "pinned version must pass too", versions: v(3),
			spec: pipe(job("a", get("repo", true)), job("b", getV("repo", true, "v2", "a"))),
			past: []pipeline.Past{past("a", paved.BuildSucceeded, "repo", 3)},
			job:  "b"},
		{name: "pinned version that passed", versions: v(3),
			spec: pipe(job("a", get("repo", true)), job("b", getV("repo", true, "v2", "a"))),
			past: []pipeline.Past{past("a", paved.BuildSucceeded, "repo", 2), past("a", paved.BuildSucceeded, "repo", 3)},
			job:  "b", want: []pipeline.Want{want("b", "repo", 2)}},
	})
}

func TestSchedulePassed(t *testing.T) {
	spec := pipe(job("a", getV("repo", true, "every")), job("c", get("repo", true, "a")))
	v2 := map[string][]paved.SourceVersion{"repo": vers("repo", 2)}
	cases := []schedCase{
		{name: "nothing passed yet", spec: spec, versions: v2, job: "c"},
		{name: "v1 succeeded", spec: spec, versions: v2, job: "c",
			past: []pipeline.Past{past("a", paved.BuildSucceeded, "repo", 1)},
			want: []pipeline.Want{want("c", "repo", 1)}},
		{name: "v1 and v2 succeeded: newest", spec: spec, versions: v2, job: "c",
			past: []pipeline.Past{past("a", paved.BuildSucceeded, "repo", 1), past("a", paved.BuildSucceeded, "repo", 2)},
			want: []pipeline.Want{want("c", "repo", 2)}},
		{name: "success in another job does not count", versions: v2, job: "c",
			spec: pipe(job("a", get("repo", true)), job("x", get("repo", true)), job("c", get("repo", true, "a"))),
			past: []pipeline.Past{past("x", paved.BuildSucceeded, "repo", 2)}},
	}
	for _, st := range []string{paved.BuildFailed, paved.BuildErrored, paved.BuildRunning, paved.BuildPending, paved.BuildAborted} {
		cases = append(cases,
			schedCase{name: "v2 " + st + " only", spec: spec, versions: v2, job: "c",
				past: []pipeline.Past{past("a", st, "repo", 2)}},
			schedCase{name: "v1 succeeded, v2 " + st, spec: spec, versions: v2, job: "c",
				past: []pipeline.Past{past("a", paved.BuildSucceeded, "repo", 1), past("a", st, "repo", 2)},
				want: []pipeline.Want{want("c", "repo", 1)}},
		)
	}
	runCases(t, cases)
}

func TestSchedulePassedFanIn(t *testing.T) {
	mk := func(version string) paved.PipelineSpec {
		return pipe(
			job("a", getV("repo", true, "every")),
			job("b", getV("repo", true, "every")),
			job("c", getV("repo", true, version, "a", "b")),
		)
	}
	v := func(n int) map[string][]paved.SourceVersion {
		return map[string][]paved.SourceVersion{"repo": vers("repo", n)}
	}
	ok, bad := paved.BuildSucceeded, paved.BuildFailed
	runCases(t, []schedCase{
		{name: "passed a only", spec: mk(""), versions: v(1), job: "c",
			past: []pipeline.Past{past("a", ok, "repo", 1)}},
		{name: "passed b only", spec: mk(""), versions: v(1), job: "c",
			past: []pipeline.Past{past("b", ok, "repo", 1)}},
		{name: "passed both", spec: mk(""), versions: v(1), job: "c",
			past: []pipeline.Past{past("a", ok, "repo", 1), past("b", ok, "repo", 1)},
			want: []pipeline.Want{want("c", "repo", 1)}},
		{name: "passed a and b on different versions", spec: mk(""), versions: v(2), job: "c",
			past: []pipeline.Past{past("a", ok, "repo", 1), past("b", ok, "repo", 2)}},
		{name: "v2 failed in b: v1 is still the newest", spec: mk(""), versions: v(2), job: "c",
			past: []pipeline.Past{past("a", ok, "repo", 1), past("b", ok, "repo", 1), past("a", ok, "repo", 2), past("b", bad, "repo", 2)},
			want: []pipeline.Want{want("c", "repo", 1)}},
		{name: "v2 failed in b, c built v1: nothing", spec: mk(""), versions: v(2), job: "c",
			past: []pipeline.Past{past("a", ok, "repo", 1), past("b", ok, "repo", 1), past("a", ok, "repo", 2), past("b", bad, "repo", 2), past("c", ok, "repo", 1)}},
		{name: "v3 passed both after v2 failed", spec: mk(""), versions: v(3), job: "c",
			past: []pipeline.Past{
				past("a", ok, "repo", 1), past("b", ok, "repo", 1), past("c", ok, "repo", 1),
				past("a", ok, "repo", 2), past("b", bad, "repo", 2),
				past("a", ok, "repo", 3), past("b", ok, "repo", 3),
			},
			want: []pipeline.Want{want("c", "repo", 3)}},
		{name: "every: failed version skipped", spec: mk("every"), versions: v(3), job: "c",
			past: []pipeline.Past{
				past("a", ok, "repo", 1), past("b", ok, "repo", 1),
				past("a", ok, "repo", 2), past("b", bad, "repo", 2),
				past("a", ok, "repo", 3), past("b", ok, "repo", 3),
			},
			want: []pipeline.Want{want("c", "repo", 1), want("c", "repo", 3)}},
	})
}

func TestScheduleNotScheduled(t *testing.T) {
	v3 := map[string][]paved.SourceVersion{"repo": vers("repo", 3), "config": vers("config", 2)}
	paused := pipe(job("build", get("repo", true)))
	paused.Paused = true
	runCases(t, []schedCase{
		{name: "no trigger get", spec: pipe(job("build", get("repo", false))), versions: v3},
		{name: "no trigger among several gets", spec: pipe(job("build", get("repo", false), get("config", false))), versions: v3},
		{name: "no get at all", spec: pipe(paved.JobSpec{Name: "build", Plan: []paved.Step{task("t")}}), versions: v3},
		{name: "empty plan", spec: pipe(paved.JobSpec{Name: "build"}), versions: v3},
		{name: "source without versions", spec: pipe(job("build", get("image", true))), versions: v3},
		{name: "source with empty version list", spec: pipe(job("build", get("image", true))),
			versions: map[string][]paved.SourceVersion{"image": {}}},
		{name: "second get without versions", spec: pipe(job("build", get("repo", true), get("image", false))), versions: v3},
		{name: "nil versions", spec: pipe(job("build", get("repo", true))), versions: nil},
		{name: "paused", spec: paused, versions: v3},
		{name: "no jobs", spec: pipe(), versions: v3},
	})
}

func TestScheduleSerialAndMaxInFlight(t *testing.T) {
	every := func(serial bool, max int) paved.PipelineSpec {
		j := job("build", getV("repo", true, "every"))
		j.Serial, j.MaxInFlight = serial, max
		return pipe(j)
	}
	latest := func(serial bool, max int) paved.PipelineSpec {
		j := job("build", get("repo", true))
		j.Serial, j.MaxInFlight = serial, max
		return pipe(j)
	}
	v := func(n int) map[string][]paved.SourceVersion {
		return map[string][]paved.SourceVersion{"repo": vers("repo", n)}
	}
	ok := paved.BuildSucceeded
	runCases(t, []schedCase{
		{name: "serial every: first only", spec: every(true, 0), versions: v(3),
			want: []pipeline.Want{want("build", "repo", 1)}},
		{name: "serial every: v1 pending", spec: every(true, 0), versions: v(3),
			past: []pipeline.Past{past("build", paved.BuildPending, "repo", 1)}},
		{name: "serial every: v1 running", spec: every(true, 0), versions: v(3),
			past: []pipeline.Past{past("build", paved.BuildRunning, "repo", 1)}},
		{name: "serial every: v1 done", spec: every(true, 0), versions: v(3),
			past: []pipeline.Past{past("build", ok, "repo", 1)},
			want: []pipeline.Want{want("build", "repo", 2)}},
		{name: "serial every: v1 failed, v2 errored", spec: every(true, 0), versions: v(3),
			past: []pipeline.Past{past("build", paved.BuildFailed, "repo", 1), past("build", paved.BuildErrored, "repo", 2)},
			want: []pipeline.Want{want("build", "repo", 3)}},
		{name: "serial every: an unrelated running build of another job does not count", versions: v(3),
			spec: func() paved.PipelineSpec {
				s := every(true, 0)
				s.Jobs = append(s.Jobs, job("other", get("repo", true)))
				return s
			}(),
			past: []pipeline.Past{past("other", paved.BuildRunning, "repo", 3)},
			job:  "build", want: []pipeline.Want{want("build", "repo", 1)}},
		{name: "serial wins over max_in_flight", spec: every(true, 3), versions: v(3),
			want: []pipeline.Want{want("build", "repo", 1)}},
		{name: "serial latest: new version waits", spec: latest(true, 0), versions: v(2),
			past: []pipeline.Past{past("build", paved.BuildRunning, "repo", 1)}},
		{name: "serial latest: new version after finish", spec: latest(true, 0), versions: v(2),
			past: []pipeline.Past{past("build", paved.BuildFailed, "repo", 1)},
			want: []pipeline.Want{want("build", "repo", 2)}},
		{name: "not serial latest: new version while running", spec: latest(false, 0), versions: v(2),
			past: []pipeline.Past{past("build", paved.BuildRunning, "repo", 1)},
			want: []pipeline.Want{want("build", "repo", 2)}},
		{name: "max 2: two at once", spec: every(false, 2), versions: v(5),
			want: []pipeline.Want{want("build", "repo", 1), want("build", "repo", 2)}},
		{name: "max 2: one running", spec: every(false, 2), versions: v(5),
			past: []pipeline.Past{past("build", paved.BuildRunning, "repo", 1)},
			want: []pipeline.Want{want("build", "repo", 2)}},
		{name: "max 2: two active", spec: every(false, 2), versions: v(5),
			past: []pipeline.Past{past("build", paved.BuildRunning, "repo", 1), past("build", paved.BuildPending, "repo", 2)}},
		{name: "max 2: finished ones free slots", spec: every(false, 2), versions: v(5),
			past: []pipeline.Past{past("build", ok, "repo", 1), past("build", paved.BuildAborted, "repo", 2), past("build", paved.BuildRunning, "repo", 3)},
			want: []pipeline.Want{want("build", "repo", 4)}},
		{name: "max 0: unlimited", spec: every(false, 0), versions: v(4),
			want: []pipeline.Want{want("build", "repo", 1), want("build", "repo", 2), want("build", "repo", 3), want("build", "repo", 4)}},
		{name: "max 1 latest: waits", spec: latest(false, 1), versions: v(2),
			past: []pipeline.Past{past("build", paved.BuildPending, "repo", 1)}},
	})
}

func TestScheduleNonTriggerGets(t *testing.T) {
	ok, bad := paved.BuildSucceeded, paved.BuildFailed
	vs := map[string][]paved.SourceVersion{"repo": vers("repo", 3), "config": vers("config", 2), "image": vers("image", 3)}
	runCases(t, []schedCase{
		{name: "latest of a non-trigger get", versions: vs,
			spec: pipe(job("build", get("repo", true), get("config", false))),
			want: []pipeline.Want{want("build", "repo", 3, "config", 2)}},
		{name: "every on a non-trigger get means latest", versions: vs,
			spec: pipe(job("build", get("repo", true), getV("config", false, "every"))),
			want: []pipeline.Want{want("build", "repo", 3, "config", 2)}},
		{name: "pinned non-trigger get", versions: vs,
			spec: pipe(job("build", get("repo", true), getV("config", false, "v1"))),
			want: []pipeline.Want{want("build", "repo", 3, "config", 1)}},
		{name: "every trigger with a non-trigger get", versions: vs,
			spec: pipe(job("build", getV("repo", true, "every"), get("config", false))),
			want: []pipeline.Want{want("build", "repo", 1, "config", 2), want("build", "repo", 2, "config", 2), want("build", "repo", 3, "config", 2)}},
		{name: "latest eligible non-trigger get", versions: vs,
			spec: pipe(job("img", get("image", true)), job("deploy", get("repo", true), get("image", false, "img"))),
			past: []pipeline.Past{past("img", ok, "image", 1), past("img", ok, "image", 2), past("img", bad, "image", 3)},
			job:  "deploy", want: []pipeline.Want{want("deploy", "repo", 3, "image", 2)}},
		{name: "non-trigger get with nothing eligible blocks", versions: vs,
			spec: pipe(job("img", get("image", true)), job("deploy", get("repo", true), get("image", false, "img"))),
			past: []pipeline.Past{past("img", bad, "image", 3)},
			job:  "deploy"},
		{name: "already built with the same inputs", versions: vs,
			spec: pipe(job("build", get("repo", true), get("config", false))),
			past: []pipeline.Past{past("build", ok, "repo", 3, "config", 2)}},
	})
}

// A new version of a non-trigger input must not start a build by itself:
// only trigger gets start builds (Step.Trigger: "a new version starts a
// build"); non-trigger gets ride along at their latest version.
func TestScheduleNonTriggerVersionDoesNotStartBuild(t *testing.T) {
	spec := pipe(job("build", get("repo", true), get("config", false)))
	vs := map[string][]paved.SourceVersion{"repo": vers("repo", 3), "config": vers("config", 2)}
	p := []pipeline.Past{past("build", paved.BuildSucceeded, "repo", 3, "config", 1)}
	checkWants(t, "config v2 arrives", pipeline.Schedule(spec, vs, p), nil)

	// With the next repo version, the build takes the latest config.
	vs["repo"] = vers("repo", 4)
	checkWants(t, "repo v4 arrives", pipeline.Schedule(spec, vs, p), []pipeline.Want{want("build", "repo", 4, "config", 2)})

	// With an `every` trigger the whole history would be rebuilt.
	spec = pipe(job("build", getV("repo", true, "every"), get("config", false)))
	vs = map[string][]paved.SourceVersion{"repo": vers("repo", 3), "config": vers("config", 2)}
	p = []pipeline.Past{
		past("build", paved.BuildSucceeded, "repo", 1, "config", 1),
		past("build", paved.BuildSucceeded, "repo", 2, "config", 1),
		past("build", paved.BuildSucceeded, "repo", 3, "config", 1),
	}
	checkWants(t, "every: config v2 arrives", pipeline.Schedule(spec, vs, p), nil)
}

func TestScheduleNestedGets(t *testing.T) {
	vs := map[string][]paved.SourceVersion{"repo": vers("repo", 2), "config": vers("config", 3), "tools": vers("tools", 1)}
	inPar := func(s ...paved.Step) paved.Step { return paved.Step{InParallel: s} }
	try := func(s paved.Step) paved.Step { return paved.Step{Try: &s} }
	runCases(t, []schedCase{
		{name: "trigger inside in_parallel", versions: vs,
			spec: pipe(job("build", inPar(get("repo", true), get("config", false)))),
			want: []pipeline.Want{want("build", "repo", 2, "config", 3)}},
		{name: "trigger inside try", versions: vs,
			spec: pipe(job("build", try(get("repo", true)), get("config", false))),
			want: []pipeline.Want{want("build", "repo", 2, "config", 3)}},
		{name: "try inside in_parallel inside try", versions: vs,
			spec: pipe(job("build", try(inPar(task("x"), try(get("tools", true)), get("repo", false))))),
			want: []pipeline.Want{want("build", "tools", 1, "repo", 2)}},
		{name: "every inside in_parallel", versions: vs,
			spec: pipe(job("build", inPar(getV("repo", true, "every"), get("tools", false)))),
			want: []pipeline.Want{want("build", "repo", 1, "tools", 1), want("build", "repo", 2, "tools", 1)}},
		{name: "get in try without versions still blocks", versions: vs,
			spec: pipe(job("build", get("repo", true), try(get("image", false))))},
		{name: "passed inside in_parallel", versions: vs,
			spec: pipe(job("a", get("repo", true)), job("b", inPar(get("repo", true, "a"), get("config", false)))),
			past: []pipeline.Past{past("a", paved.BuildSucceeded, "repo", 1), past("a", paved.BuildFailed, "repo", 2)},
			job:  "b", want: []pipeline.Want{want("b", "repo", 1, "config", 3)}},
		{name: "no trigger anywhere in nesting", versions: vs,
			spec: pipe(job("build", inPar(get("repo", false)), try(get("config", false))))},
	})
}

// Schedule must not touch its arguments and must give equal answers for
// equal arguments, whatever the order of past builds.
func TestSchedulePureAndDeterministic(t *testing.T) {
	maxj := job("unit", inPar(getV("repo", true, "every"), get("config", false)))
	maxj.MaxInFlight = 2
	ser := job("ship", get("repo", true, "unit", "lint"), get("image", false, "img"))
	ser.Serial = true
	spec := pipe(
		maxj,
		job("lint", get("repo", true)),
		job("img", getV("image", true, "every")),
		ser,
	)
	vs := map[string][]paved.SourceVersion{"repo": vers("repo", 5), "config": vers("config", 2), "image": vers("image", 3)}
	ps := []pipeline.Past{
		past("unit", paved.BuildSucceeded, "repo", 1, "config", 2),
		past("unit", paved.BuildRunning, "repo", 2, "config", 2),
		past("lint", paved.BuildSucceeded, "repo", 1),
		past("img", paved.BuildSucceeded, "image", 1),
		past("img", paved.BuildFailed, "image", 2),
	}
	specCopy := deepCopy(t, spec)
	vsCopy := deepCopy(t, vs)
	psCopy := deepCopy(t, ps)

	first := pipeline.Schedule(spec, vs, ps)
	if len(first) == 0 {
		t.Fatal("expected some wants")
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 50; i++ {
		shuffled := slices.Clone(ps)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		got := pipeline.Schedule(spec, vs, shuffled)
		if !reflect.DeepEqual(got, first) {
			t.Fatalf("call %d differs:\n got  %s\n want %s", i, show(got), show(first))
		}
	}
	if !reflect.DeepEqual(spec, specCopy) || !reflect.DeepEqual(vs, vsCopy) || !reflect.DeepEqual(ps, psCopy) {
		t.Error("Schedule modified its arguments")
	}
	// Mutating the result must not leak into later calls.
	first[0].Inputs["repo"] = store.Input{ID: 999}
	again := pipeline.Schedule(spec, vs, ps)
	if again[0].Inputs["repo"].ID == 999 {
		t.Error("Schedule returned shared maps")
	}
	checkWants(t, "expected wants", pipeline.Schedule(spec, vs, ps), []pipeline.Want{
		want("unit", "repo", 3, "config", 2), // one running + one new = max_in_flight 2
		want("lint", "repo", 5),
		want("img", "image", 3),
		want("ship", "repo", 1, "image", 1),
	})
}

func inPar(s ...paved.Step) paved.Step { return paved.Step{InParallel: s} }

// deepCopy copies through a fresh value tree (maps and slices included).
func deepCopy[T any](t *testing.T, v T) T {
	t.Helper()
	return cloneValue(reflect.ValueOf(v)).Interface().(T)
}

func cloneValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			out.SetMapIndex(k, cloneValue(v.MapIndex(k)))
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(cloneValue(v.Index(i)))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(cloneValue(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v) // copies unexported and scalar fields
		for i := 0; i < v.NumField(); i++ {
			if out.Field(i).CanSet() {
				out.Field(i).Set(cloneValue(v.Field(i)))
			}
		}
		return out
	default:
		return v
	}
}

// ---------------------------------------------------------------------------
// simulation

// simBuild is a build the simulated engine knows of.
type simBuild struct {
	want   pipeline.Want
	status string
}

type sim struct {
	t        *testing.T
	spec     paved.PipelineSpec
	versions map[string][]paved.SourceVersion
	builds   []*simBuild
	seen     map[string]bool // job|inputs key of every want so far
	outcome  func(job string, in map[string]store.Input) string
	rng      *rand.Rand
	calls    int
}

func newSim(t *testing.T, spec paved.PipelineSpec, seed int64, outcome func(string, map[string]store.Input) string) *sim {
	return &sim{t: t, spec: spec, versions: map[string][]paved.SourceVersion{}, seen: map[string]bool{},
		outcome: outcome, rng: rand.New(rand.NewSource(seed))}
}

func (s *sim) addVersion(src string) {
	n := len(s.versions[src]) + 1
	s.versions[src] = append(s.versions[src], paved.SourceVersion{ID: vid(src, n), Source: src, Version: fmt.Sprintf("v%d", n)})
}

func (s *sim) past() []pipeline.Past {
	var out []pipeline.Past
	for _, b := range s.builds {
		ids := map[string]int64{}
		for k, in := range b.want.Inputs {
			ids[k] = in.ID
		}
		out = append(out, pipeline.Past{Job: b.want.Job, Inputs: ids, Status: b.status})
	}
	return out
}

func (s *sim) succeeded(job, src string, id int64) bool {
	for _, b := range s.builds {
		if b.want.Job == job && b.status == paved.BuildSucceeded && b.want.Inputs[src].ID == id {
			if _, ok := b.want.Inputs[src]; ok {
				return true
			}
		}
	}
	return false
}

func (s *sim) active(job string) int {
	n := 0
	for _, b := range s.builds {
		if b.want.Job == job && (b.status == paved.BuildPending || b.status == paved.BuildRunning) {
			n++
		}
	}
	return n
}

func findJob(spec paved.PipelineSpec, name string) paved.JobSpec {
	for _, j := range spec.Jobs {
		if j.Name == name {
			return j
		}
	}
	return paved.JobSpec{}
}

// gets walks a plan independently of the scheduler.
func gets(steps []paved.Step) []paved.Step {
	var out []paved.Step
	for _, s := range steps {
		if s.Get != "" {
			out = append(out, s)
		}
		out = append(out, gets(s.InParallel)...)
		if s.Try != nil {
			out = append(out, gets([]paved.Step{*s.Try})...)
		}
	}
	return out
}

// schedule calls Schedule, checks the invariants of its answer and records
// the wanted builds as pending. It returns how many builds were wanted.
func (s *sim) schedule() int {
	t := s.t
	t.Helper()
	s.calls++
	p := s.past()
	ws := pipeline.Schedule(s.spec, s.versions, p)

	// Deterministic: same inputs (and past in any order) → same output.
	shuffled := slices.Clone(p)
	s.rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
	if again := pipeline.Schedule(s.spec, deepCopy(t, s.versions), shuffled); !reflect.DeepEqual(ws, again) {
		t.Fatalf("call %d: not deterministic:\n %s\n %s", s.calls, show(ws), show(again))
	}

	for _, w := range ws {
		key := w.Job + "|" + store.InputsKey(w.Inputs)
		if s.seen[key] {
			t.Fatalf("call %d: %s wanted twice", s.calls, show([]pipeline.Want{w}))
		}
		s.seen[key] = true

		j := findJob(s.spec, w.Job)
		if j.Name == "" {
			t.Fatalf("call %d: want of unknown job %q", s.calls, w.Job)
		}
		gs := gets(j.Plan)
		if len(w.Inputs) != len(gs) {
			t.Errorf("call %d: %s: %d inputs for %d gets", s.calls, show([]pipeline.Want{w}), len(w.Inputs), len(gs))
		}
		for _, g := range gs {
			in, ok := w.Inputs[g.Get]
			if !ok {
				t.Errorf("call %d: %s lacks input %q", s.calls, show([]pipeline.Want{w}), g.Get)
				continue
			}
			found := false
			for _, v := range s.versions[g.Get] {
				if v.ID == in.ID && v.Version == in.Version {
					found = true
				}
			}
			if !found {
				t.Errorf("call %d: %s: input %s=%v is not a version of the source", s.calls, show([]pipeline.Want{w}), g.Get, in)
			}
			for _, up := range g.Passed {
				if !s.succeeded(up, g.Get, in.ID) {
					t.Errorf("call %d: %s: %s %s did not pass %s", s.calls, show([]pipeline.Want{w}), g.Get, in.Version, up)
				}
			}
		}
		s.builds = append(s.builds, &simBuild{want: w, status: paved.BuildPending})
	}

	for _, j := range s.spec.Jobs {
		limit := j.MaxInFlight
		if j.Serial {
			limit = 1
		}
		if limit > 0 && s.active(j.Name) > limit {
			t.Fatalf("call %d: job %s has %d active builds, limit %d", s.calls, j.Name, s.active(j.Name), limit)
		}
	}
	return len(ws)
}

// progress moves some active builds on: pending → running → outcome.
func (s *sim) progress(all bool) {
	for _, b := range s.builds {
		if !all && s.rng.Intn(2) == 0 {
			continue
		}
		switch b.status {
		case paved.BuildPending:
			b.status = paved.BuildRunning
		case paved.BuildRunning:
			b.status = s.outcome(b.want.Job, b.want.Inputs)
		}
	}
}

// drain runs until nothing is active and Schedule asks for nothing.
func (s *sim) drain() {
	s.t.Helper()
	for i := 0; ; i++ {
		if i > 1000 {
			s.t.Fatal("simulation does not settle")
		}
		n := s.schedule()
		busy := false
		for _, b := range s.builds {
			if b.status == paved.BuildPending || b.status == paved.BuildRunning {
				busy = true
			}
		}
		if n == 0 && !busy {
			return
		}
		s.progress(true)
	}
}

func (s *sim) builtIDs(job, src string) []int64 {
	var out []int64
	for _, b := range s.builds {
		if b.want.Job == job {
			out = append(out, b.want.Inputs[src].ID)
		}
	}
	return out
}

// checkSettled verifies, with its own reading of the spec, that everything
// that should have built did: for every job whose inputs all have eligible
// versions, the newest eligible combination (or, for an `every` trigger,
// every eligible version) has a build; a job with an input that never had
// an eligible version has none.
func (s *sim) checkSettled() {
	t := s.t
	t.Helper()
	for _, j := range s.spec.Jobs {
		gs := gets(j.Plan)
		trigger := false
		latest := map[string]int64{}
		var everySrc string
		var everyIDs []int64
		blocked := len(gs) == 0
		for _, g := range gs {
			trigger = trigger || g.Trigger
			var elig []int64
			for _, v := range s.versions[g.Get] {
				ok := true
				for _, up := range g.Passed {
					ok = ok && s.succeeded(up, g.Get, v.ID)
				}
				if ok && (g.Version == "" || g.Version == "latest" || g.Version == "every" || g.Version == v.Version) {
					elig = append(elig, v.ID)
				}
			}
			if len(elig) == 0 {
				blocked = true
				continue
			}
			latest[g.Get] = elig[len(elig)-1]
			if g.Trigger && g.Version == "every" {
				everySrc, everyIDs = g.Get, elig
			}
		}
		builds := 0
		for _, b := range s.builds {
			if b.want.Job == j.Name {
				builds++
				if b.status == paved.BuildPending || b.status == paved.BuildRunning {
					t.Errorf("job %s: build still active after settling", j.Name)
				}
			}
		}
		if blocked || !trigger {
			if builds > 0 {
				t.Errorf("job %s: %d builds though it can never run", j.Name, builds)
			}
			continue
		}
		key := func(m map[string]int64) string {
			ins := map[string]store.Input{}
			for k, id := range m {
				ins[k] = store.Input{ID: id}
			}
			return j.Name + "|" + store.InputsKey(ins)
		}
		if everySrc == "" {
			if !s.seen[key(latest)] {
				t.Errorf("job %s: newest eligible inputs %v never built", j.Name, latest)
			}
			continue
		}
		for _, id := range everyIDs {
			if !slices.Contains(s.builtIDs(j.Name, everySrc), id) {
				t.Errorf("job %s: eligible %s version #%d never built (every)", j.Name, everySrc, id)
			}
		}
	}
}

// outcomes makes an outcome function from a table of (job, repo version)
// results; anything else succeeds.
func outcomes(table map[string]string) func(string, map[string]store.Input) string {
	return func(job string, in map[string]store.Input) string {
		if st, ok := table[job+"@"+in["repo"].Version]; ok {
			return st
		}
		return paved.BuildSucceeded
	}
}

func simSpec() paved.PipelineSpec {
	unit := job("unit", getV("repo", true, "every"))
	unit.MaxInFlight = 2
	lint := job("lint", get("repo", true))
	lint.Serial = true
	integ := job("integration", get("repo", true, "unit", "lint"), get("tools", false))
	integ.Serial = true
	ship := job("ship", inPar(get("repo", true, "integration"), paved.Step{Try: &paved.Step{Get: "tools"}}))
	return pipe(
		unit, lint, integ, ship,
		job("audit", getV("repo", true, "every", "integration")),
		job("manual", get("repo", false)),                      // never scheduled: no trigger
		job("waiting", get("repo", true), get("image", false)), // never scheduled: image has no versions
	)
}

func TestScheduleSimulation(t *testing.T) {
	// lint fails v3, unit errors on v4: neither may reach integration.
	s := newSim(t, simSpec(), 1, outcomes(map[string]string{
		"lint@v3": paved.BuildFailed,
		"unit@v4": paved.BuildErrored,
	}))
	s.addVersion("tools")
	for v := 1; v <= 5; v++ {
		s.addVersion("repo")
		// A couple of ticks per version so that versions arrive while
		// builds are in flight.
		for i := 0; i < 2; i++ {
			s.schedule()
			s.progress(false)
		}
	}
	s.drain()
	s.checkSettled()

	// unit (every) built each version exactly once.
	if got, exp := s.builtIDs("unit", "repo"), []int64{1, 2, 3, 4, 5}; !slices.Equal(got, exp) {
		t.Errorf("unit built %v, want %v", got, exp)
	}
	for _, j := range []string{"integration", "ship", "audit"} {
		ids := s.builtIDs(j, "repo")
		if slices.Contains(ids, vid("repo", 3)) || slices.Contains(ids, vid("repo", 4)) {
			t.Errorf("%s built %v: v3 failed lint and v4 errored in unit", j, ids)
		}
		if !slices.Contains(ids, vid("repo", 5)) {
			t.Errorf("%s built %v: v5 passed everything and must reach it", j, ids)
		}
	}
	for _, j := range []string{"manual", "waiting"} {
		if ids := s.builtIDs(j, "repo"); len(ids) > 0 {
			t.Errorf("%s built %v, want nothing", j, ids)
		}
	}

	// A settled pipeline stays settled, and a new version flows through.
	if n := s.schedule(); n != 0 {
		t.Errorf("settled pipeline wants %d builds", n)
	}
	s.addVersion("repo")
	s.drain()
	s.checkSettled()
	for _, j := range []string{"unit", "lint", "integration", "ship", "audit"} {
		if !slices.Contains(s.builtIDs(j, "repo"), vid("repo", 6)) {
			t.Errorf("%s did not build v6", j)
		}
	}
}

func TestScheduleSimulationRandom(t *testing.T) {
	statuses := []string{paved.BuildSucceeded, paved.BuildSucceeded, paved.BuildSucceeded, paved.BuildSucceeded,
		paved.BuildFailed, paved.BuildErrored}
	for seed := int64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			table := map[string]string{}
			for _, j := range []string{"unit", "lint", "integration", "ship", "audit"} {
				for v := 1; v <= 8; v++ {
					table[fmt.Sprintf("%s@v%d", j, v)] = statuses[rng.Intn(len(statuses))]
				}
			}
			s := newSim(t, simSpec(), seed, outcomes(table))
			nRepo := 0
			for tick := 0; tick < 40; tick++ {
				if nRepo < 8 && rng.Intn(3) == 0 {
					s.addVersion("repo")
					nRepo++
				}
				if tick == 5 {
					s.addVersion("tools") // before this, integration and ship wait
				}
				s.schedule()
				s.progress(false)
			}
			for nRepo < 8 {
				s.addVersion("repo")
				nRepo++
			}
			s.drain()
			s.checkSettled()
			// Nothing that failed or errored upstream reached downstream.
			for _, b := range s.builds {
				if b.want.Job != "integration" {
					continue
				}
				v := b.want.Inputs["repo"].Version
				if table["unit@"+v] != paved.BuildSucceeded || table["lint@"+v] != paved.BuildSucceeded {
					t.Errorf("integration built %s: unit %s, lint %s", v, table["unit@"+v], table["lint@"+v])
				}
			}
		})
	}
}
