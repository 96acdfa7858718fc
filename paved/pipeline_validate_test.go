package paved_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// goodPipeline is a valid pipeline using every kind of source and step.
// Tests mutate a fresh copy of it.
//
//	sources[0] repo (git)  sources[1] ver (semver)  sources[2] nightly (time)  sources[3] rel (app_release)
//	jobs[0] unit:   plan[0] get repo, plan[1] task test
//	jobs[1] lint:   plan[0] get repo, plan[1] task lint
//	jobs[2] deploy: plan[0] in_parallel[get repo passed [unit lint], get ver], plan[1] task build,
//	                plan[2] deploy web, plan[3] assert smoke, plan[4] put ver; on_failure task notify
func goodPipeline() paved.PipelineSpec {
	return paved.PipelineSpec{
		Name:   "web-delivery",
		Retain: 20,
		Sources: []paved.SourceSpec{
			{Name: "repo", Type: paved.SourceGit, URI: "https://example.com/web.git", Branch: "main", Paths: []string{"src/"}},
			{Name: "ver", Type: paved.SourceSemver, Initial: "1.0.0"},
			{Name: "nightly", Type: paved.SourceTime, Interval: paved.Duration(24 * time.Hour)},
			{Name: "rel", Type: paved.SourceAppRelease, App: "web"},
		},
		Jobs: []paved.JobSpec{
			{Name: "unit", Plan: []paved.Step{
				{Get: "repo", Trigger: true},
				{Task: "test", Run: "go test ./...", Dir: "repo", Inputs: []string{"repo"}, Outputs: []string{"bin"}, Attempts: 2, Timeout: paved.Duration(10 * time.Minute)},
			}},
			{Name: "lint", Plan: []paved.Step{
				{Get: "repo", Trigger: true, Version: "every"},
				{Task: "lint", Run: "golangci-lint run"},
			}},
			{Name: "deploy", Serial: true, Plan: []paved.Step{
				{InParallel: []paved.Step{
					{Get: "repo", Trigger: true, Passed: []string{"unit", "lint"}},
					{Get: "ver", Version: "1.0.0"},
				}},
				{Task: "build", Run: "make", Inputs: []string{"repo", "ver"}, Outputs: []string{"out"}},
				{Deploy: "web", From: "out"},
				{Assert: "smoke", HTTP: &paved.HTTPAssert{URL: "router:/healthz", Host: "web.example.com"}},
				{Put: "ver", Bump: "patch"},
			}, OnFailure: &paved.Step{Task: "notify", Run: "echo failed"}},
		},
	}
}

func webExists(name string) bool { return name == "web" }

type wantErr struct{ field, msg string }

func TestValidateGoodPipeline(t *testing.T) {
	for name, exists := range map[string]func(string) bool{"appExists": webExists, "nil appExists": nil} {
		if errs := goodPipeline().Validate(exists); len(errs) != 0 {
			t.Errorf("%s: good pipeline: %v", name, errs)
		}
	}
	// A minimal pipeline is fine too.
	minimal := paved.PipelineSpec{Name: "p", Jobs: []paved.JobSpec{{Name: "j", Plan: []paved.Step{{Task: "t", Run: "true"}}}}}
	if errs := minimal.Validate(nil); len(errs) != 0 {
		t.Errorf("minimal pipeline: %v", errs)
	}
}

func TestValidate(t *testing.T) {
	job := func(p *paved.PipelineSpec, i int) *paved.JobSpec { return &p.Jobs[i] }
	tests := []struct {
		name      string
		mutate    func(p *paved.PipelineSpec)
		appExists func(string) bool // webExists unless noApps
		noApps    bool
		want      []wantErr
	}{
		// names
		{name: "pipeline name with uppercase and underscore", mutate: func(p *paved.PipelineSpec) { p.Name = "Web_Delivery" },
			want: []wantErr{{"name", `pipeline name "Web_Delivery" must be 1 to 63`}}},
		{name: "empty pipeline name", mutate: func(p *paved.PipelineSpec) { p.Name = "" },
			want: []wantErr{{"name", "pipeline name"}}},
		{name: "pipeline name with leading hyphen", mutate: func(p *paved.PipelineSpec) { p.Name = "-web" },
			want: []wantErr{{"name", "pipeline name"}}},
		{name: "pipeline name of 64 characters", mutate: func(p *paved.PipelineSpec) { p.Name = strings.Repeat("a", 64) },
			want: []wantErr{{"name", "pipeline name"}}},
		{name: "pipeline name of 63 characters is fine", mutate: func(p *paved.PipelineSpec) { p.Name = strings.Repeat("a", 63) }},
		{name: "bad job name", mutate: func(p *paved.PipelineSpec) {
			p.Jobs = append(p.Jobs, paved.JobSpec{Name: "Smoke Test", Plan: []paved.Step{{Get: "repo", Trigger: true}}})
		}, want: []wantErr{{"jobs[3].name", `job name "Smoke Test"`}}},
		{name: "bad source name", mutate: func(p *paved.PipelineSpec) {
			p.Sources = append(p.Sources, paved.SourceSpec{Name: "my.src", Type: paved.SourceGit, URI: "/src"})
		}, want: []wantErr{{"sources[4].name", `source name "my.src"`}}},
		{name: "duplicate job", mutate: func(p *paved.PipelineSpec) { p.Jobs = append(p.Jobs, p.Jobs[1]) },
			want: []wantErr{{"jobs[3].name", `job "lint" is defined twice`}}},
		{name: "duplicate source", mutate: func(p *paved.PipelineSpec) {
			p.Sources = append(p.Sources, paved.SourceSpec{Name: "repo", Type: paved.SourceGit, URI: "/other"})
		}, want: []wantErr{{"sources[4].name", `source "repo" is defined twice`}}},
		{name: "negative retain", mutate: func(p *paved.PipelineSpec) { p.Retain = -1 },
			want: []wantErr{{"retain", "must not be negative"}}},

		// sources
		{name: "unknown source type", mutate: func(p *paved.PipelineSpec) { p.Sources[0].Type = "svn" },
			want: []wantErr{{"sources[0].type", `unknown source type "svn"`}}},
		{name: "empty source type", mutate: func(p *paved.PipelineSpec) { p.Sources[0].Type = "" },
			want: []wantErr{{"sources[0].type", "unknown source type"}}},
		{name: "git without uri", mutate: func(p *paved.PipelineSpec) { p.Sources[0].URI = "" },
			want: []wantErr{{"sources[0].uri", "a git source needs a uri"}}},
		{name: "time without interval", mutate: func(p *paved.PipelineSpec) { p.Sources[2].Interval = 0 },
			want: []wantErr{{"sources[2].interval", "positive interval"}}},
		{name: "time with negative interval", mutate: func(p *paved.PipelineSpec) { p.Sources[2].Interval = paved.Duration(-time.Minute) },
			want: []wantErr{{"sources[2].interval", "positive interval"}}},
		{name: "bad semver initial", mutate: func(p *paved.PipelineSpec) { p.Sources[1].Initial = "one" },
			want: []wantErr{{"sources[1].initial", `"one" is not a semantic version`}}},
		{name: "empty semver initial is fine", mutate: func(p *paved.PipelineSpec) { p.Sources[1].Initial = "" }},
		{name: "negative check_every", mutate: func(p *paved.PipelineSpec) { p.Sources[0].CheckEvery = paved.Duration(-time.Second) },
			want: []wantErr{{"sources[0].check_every", "must not be negative"}}},
		{name: "app_release without app", mutate: func(p *paved.PipelineSpec) { p.Sources[3].App = "" },
			want: []wantErr{{"sources[3].app", "needs the app"}}},
		{name: "app_release of an unknown app", mutate: func(p *paved.PipelineSpec) { p.Sources[3].App = "api" },
			want: []wantErr{{"sources[3].app", `app "api" does not exist`}}},

		// gets and passed
		{name: "get of unknown source", mutate: func(p *paved.PipelineSpec) { job(p, 1).Plan[0].Get = "repository" },
			want: []wantErr{{"jobs[1].plan[0].get", `get of unknown source "repository"`}}},
		{name: "get of unknown source inside in_parallel", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[0].InParallel[1].Get = "nope" },
			want: []wantErr{
				{"jobs[2].plan[0].in_parallel[1].get", `unknown source "nope"`},
				{"jobs[2].plan[1].inputs[1]", `input "ver"`}, // no get of ver any more
			}},
		{name: "passed names an unknown job", mutate: func(p *paved.PipelineSpec) {
			job(p, 2).Plan[0].InParallel[0].Passed = []string{"unit", "ghost"}
		}, want: []wantErr{{"jobs[2].plan[0].in_parallel[0].passed[1]", `passed names unknown job "ghost"`}}},
		{name: "passed names the job itself", mutate: func(p *paved.PipelineSpec) { job(p, 1).Plan[0].Passed = []string{"lint"} },
			want: []wantErr{{"jobs[1].plan[0].passed[0]", `job "lint" cannot require itself`}}},
		{name: "passed names a later job (no cycle) is fine", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan[0].Passed = []string{"lint"} }},
		{name: "cycle a → b → a", mutate: func(p *paved.PipelineSpec) {
			job(p, 0).Plan[0].Passed = []string{"lint"}
			job(p, 1).Plan[0].Passed = []string{"unit"}
		}, want: []wantErr{{"jobs[0]", "passed constraints form a cycle: unit → lint → unit"}}},
		{name: "cycle a → b → c → a", mutate: func(p *paved.PipelineSpec) {
			p.Jobs = append(p.Jobs, paved.JobSpec{Name: "smoke", Plan: []paved.Step{{Get: "repo", Trigger: true, Passed: []string{"deploy"}}}})
			job(p, 0).Plan[0].Passed = []string{"smoke"}
			job(p, 2).Plan = append([]paved.Step{{Get: "nightly", Passed: []string{"unit"}}}, job(p, 2).Plan...)
		}, want: []wantErr{{"jobs[0]", "unit → smoke → deploy → unit"}}},
		{name: "pinned version of a semver source must be semver", mutate: func(p *paved.PipelineSpec) {
			job(p, 2).Plan[0].InParallel[1].Version = "newest"
		}, want: []wantErr{{"jobs[2].plan[0].in_parallel[1].version", `"newest" is not a semantic version`}}},
		{name: "pinned version of a git source is free-form", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan[0].Version = "abc123" }},

		// tasks
		{name: "task without run", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan[1].Run = "" },
			want: []wantErr{{"jobs[0].plan[1].run", `task "test" needs a command`}}},
		{name: "task with blank run", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan[1].Run = " \t\n" },
			want: []wantErr{{"jobs[0].plan[1].run", "needs a command"}}},
		{name: "negative attempts", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan[1].Attempts = -1 },
			want: []wantErr{{"jobs[0].plan[1].attempts", "attempts must be at least 1"}}},
		{name: "negative timeout", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan[1].Timeout = paved.Duration(-time.Second) },
			want: []wantErr{{"jobs[0].plan[1].timeout", "must not be negative"}}},
		{name: "input not made earlier", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan[1].Inputs = []string{"repo", "cache"} },
			want: []wantErr{{"jobs[0].plan[1].inputs[1]", `input "cache" is not made by an earlier get or task output`}}},
		{name: "input made by the same task's outputs", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[1].Inputs = []string{"out"} },
			want: []wantErr{{"jobs[2].plan[1].inputs[0]", `input "out"`}}},
		{name: "input of a get in another job", mutate: func(p *paved.PipelineSpec) { job(p, 1).Plan[1].Inputs = []string{"ver"} },
			want: []wantErr{{"jobs[1].plan[1].inputs[0]", `input "ver"`}}},
		{name: "task inside try", mutate: func(p *paved.PipelineSpec) {
			job(p, 0).Plan[1] = paved.Step{Try: &paved.Step{Task: "flaky"}}
		}, want: []wantErr{{"jobs[0].plan[1].try.run", `task "flaky" needs a command`}}},

		// deploys
		{name: "deploy without from", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[2].From = "" },
			want: []wantErr{{"jobs[2].plan[2].from", "deploy needs from"}}},
		{name: "deploy from a dir never made", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[2].From = "dist" },
			want: []wantErr{{"jobs[2].plan[2].from", `from "dist" is not made by an earlier get or task output`}}},
		{name: "deploy from a dir made later", mutate: func(p *paved.PipelineSpec) {
			pl := job(p, 2).Plan
			pl[1], pl[2] = pl[2], pl[1]
		}, want: []wantErr{{"jobs[2].plan[1].from", `from "out" is not made by an earlier`}}},
		{name: "deploy from a get is fine", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[2].From = "repo" }},
		{name: "deploy to an unknown app", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[2].Deploy = "api" },
			want: []wantErr{{"jobs[2].plan[2].deploy", `deploy to unknown app "api"`}}},
		{name: "deploy to an unknown app without appExists", mutate: func(p *paved.PipelineSpec) {
			job(p, 2).Plan[2].Deploy = "api"
			p.Sources[3].App = "api"
		}, noApps: true},

		// asserts
		{name: "assert with neither http nor command", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[3].HTTP = nil },
			want: []wantErr{{"jobs[2].plan[3]", `assert "smoke" needs exactly one of http, command or backup`}}},
		{name: "assert with both http and command", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[3].Command = "curl -f web" },
			want: []wantErr{{"jobs[2].plan[3]", "needs exactly one of http, command or backup"}}},
		{name: "assert with a command only is fine", mutate: func(p *paved.PipelineSpec) {
			job(p, 2).Plan[3].HTTP, job(p, 2).Plan[3].Command = nil, "curl -f web"
		}},
		{name: "http assert without url", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[3].HTTP.URL = "" },
			want: []wantErr{{"jobs[2].plan[3].http.url", "needs a url"}}},

		// puts
		{name: "put to a git source", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[4].Put = "repo" },
			want: []wantErr{{"jobs[2].plan[4].put", `put only bumps semver sources; "repo" is a git source`}}},
		{name: "put to a time source", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[4].Put = "nightly" },
			want: []wantErr{{"jobs[2].plan[4].put", "is a time source"}}},
		{name: "put to an unknown source", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[4].Put = "version" },
			want: []wantErr{{"jobs[2].plan[4].put", `put to unknown source "version"`}}},
		{name: "bad bump", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[4].Bump = "huge" },
			want: []wantErr{{"jobs[2].plan[4].bump", `not "huge"`}}},
		{name: "missing bump", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[4].Bump = "" },
			want: []wantErr{{"jobs[2].plan[4].bump", "bump is major, minor or patch"}}},

		// step kinds
		{name: "step with zero kinds", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan = append(job(p, 0).Plan, paved.Step{Run: "x"}) },
			want: []wantErr{{"jobs[0].plan[2]", "(this one does 0)"}}},
		{name: "step with two kinds", mutate: func(p *paved.PipelineSpec) { job(p, 2).Plan[3].Deploy = "web" },
			want: []wantErr{{"jobs[2].plan[3]", "a step does exactly one of get, task, deploy, assert, put, environment, in_parallel or try (this one does 2)"}}},
		{name: "empty step inside in_parallel", mutate: func(p *paved.PipelineSpec) {
			job(p, 2).Plan[0].InParallel = append(job(p, 2).Plan[0].InParallel, paved.Step{})
		}, want: []wantErr{{"jobs[2].plan[0].in_parallel[2]", "does 0"}}},
		{name: "try with a get as well", mutate: func(p *paved.PipelineSpec) {
			job(p, 1).Plan[0].Try = &paved.Step{Task: "x", Run: "y"}
		}, want: []wantErr{{"jobs[1].plan[0]", "does 2"}}},
		{name: "step hook checked", mutate: func(p *paved.PipelineSpec) {
			job(p, 2).Plan[2].OnFailure = &paved.Step{Task: "rollback"}
		}, want: []wantErr{{"jobs[2].plan[2].on_failure.run", `task "rollback"`}}},
		{name: "job hook checked", mutate: func(p *paved.PipelineSpec) { job(p, 2).OnFailure.Run = "" },
			want: []wantErr{{"jobs[2].on_failure.run", `task "notify"`}}},

		// jobs
		{name: "serial with max_in_flight 2", mutate: func(p *paved.PipelineSpec) { job(p, 2).MaxInFlight = 2 },
			want: []wantErr{{"jobs[2].max_in_flight", "a serial job runs one build at a time"}}},
		{name: "serial with max_in_flight 1 is fine", mutate: func(p *paved.PipelineSpec) { job(p, 2).MaxInFlight = 1 }},
		{name: "negative max_in_flight", mutate: func(p *paved.PipelineSpec) { job(p, 0).MaxInFlight = -1 },
			want: []wantErr{{"jobs[0].max_in_flight", "must not be negative"}}},
		{name: "job without steps", mutate: func(p *paved.PipelineSpec) { job(p, 0).Plan = nil },
			want: []wantErr{{"jobs[0].plan", `job "unit" has no steps`}}},
		{name: "pipeline without jobs", mutate: func(p *paved.PipelineSpec) { p.Jobs = nil },
			want: []wantErr{{"jobs", "a pipeline needs at least one job"}}},

		// several problems at once are all reported, in order
		{name: "several problems", mutate: func(p *paved.PipelineSpec) {
			p.Name = "X"
			p.Sources[0].URI = ""
			job(p, 0).Plan[1].Run = ""
			job(p, 2).Plan[4].Bump = "tiny"
		}, want: []wantErr{
			{"name", "pipeline name"},
			{"sources[0].uri", "needs a uri"},
			{"jobs[0].plan[1].run", "needs a command"},
			{"jobs[2].plan[4].bump", "not \"tiny\""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := goodPipeline()
			tc.mutate(&p)
			exists := webExists
			if tc.noApps {
				exists = nil
			}
			checkFieldErrors(t, p.Validate(exists), tc.want)
		})
	}
}

func checkFieldErrors(t *testing.T, got []paved.FieldError, want []wantErr) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d errors %v, want %d %v", len(got), got, len(want), want)
	}
	for i, w := range want {
		if got[i].Field != w.field || !strings.Contains(got[i].Message, w.msg) {
			t.Errorf("error %d = %q: %q, want %q: …%s…", i, got[i].Field, got[i].Message, w.field, w.msg)
		}
		if got[i].Error() != got[i].Field+": "+got[i].Message {
			t.Errorf("Error() = %q", got[i].Error())
		}
	}
}

func TestValidateCycleReportedOnce(t *testing.T) {
	// Two jobs in a loop and a third joining it: one error, not one per job.
	p := goodPipeline()
	p.Jobs[0].Plan[0].Passed = []string{"lint"}
	p.Jobs[1].Plan[0].Passed = []string{"unit"}
	p.Jobs = append(p.Jobs, paved.JobSpec{Name: "e2e", Plan: []paved.Step{{Get: "repo", Trigger: true, Passed: []string{"unit", "lint"}}}})
	n := 0
	for _, e := range p.Validate(webExists) {
		if strings.Contains(e.Message, "cycle") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("cycle reported %d times, want once: %v", n, p.Validate(webExists))
	}
}

// The scheduler honours passed on gets inside in_parallel and try, so a
// loop through them deadlocks the jobs just like a top-level one.
func TestValidateCycleThroughNestedGets(t *testing.T) {
	for name, wrap := range map[string]func(paved.Step) paved.Step{
		"in_parallel": func(s paved.Step) paved.Step { return paved.Step{InParallel: []paved.Step{s}} },
		"try":         func(s paved.Step) paved.Step { return paved.Step{Try: &s} },
	} {
		t.Run(name, func(t *testing.T) {
			p := goodPipeline()
			// deploy (jobs[2]) already requires unit inside in_parallel.
			p.Jobs[0].Plan[0] = wrap(paved.Step{Get: "repo", Trigger: true, Passed: []string{"deploy"}})
			errs := p.Validate(webExists)
			if len(errs) != 1 || !strings.Contains(errs[0].Message, "cycle") {
				t.Errorf("got %v, want one cycle error", errs)
			}
		})
	}
}

// Validate must give the same answer every time for the same spec.
func TestValidateDeterministicHooks(t *testing.T) {
	p := goodPipeline()
	p.Jobs[0].OnSuccess = &paved.Step{Task: "report", Run: "make report", Outputs: []string{"report"}}
	p.Jobs[0].Ensure = &paved.Step{Task: "upload", Run: "upload report", Inputs: []string{"report"}}
	p.Jobs[0].OnFailure = &paved.Step{Task: "notify"} // no run
	first := p.Validate(webExists)
	for i := 0; i < 100; i++ {
		if got := p.Validate(webExists); !reflect.DeepEqual(got, first) {
			t.Fatalf("run %d: %v, first run: %v", i, got, first)
		}
	}
}

func TestValidateFieldErrorString(t *testing.T) {
	e := paved.FieldError{Field: "jobs[0].plan[1].run", Message: "task needs a command"}
	if got, want := e.Error(), "jobs[0].plan[1].run: task needs a command"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var err error = e
	if !strings.Contains(fmt.Sprint(err), "jobs[0]") {
		t.Errorf("as error: %v", err)
	}
}
