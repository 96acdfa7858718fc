package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestPipelinePath(t *testing.T) {
	for in, want := range map[string]string{
		"name":                                       "name",
		"retain":                                     "retain",
		"jobs":                                       "jobs",
		"sources[0].check_every":                     "sources[0].checkEvery",
		"jobs[1].plan[0].passed[0]":                  "jobs[1].steps[0].passed[0]",
		"jobs[0].plan[2].in_parallel[1].from":        "jobs[0].steps[2].inParallel[1].from",
		"jobs[0].plan[1].try.inputs[0]":              "jobs[0].steps[1].try.inputs[0]",
		"jobs[0].on_success.run":                     "jobs[0].onSuccess.run",
		"jobs[2].plan[0].on_failure.ensure.bump":     "jobs[2].steps[0].onFailure.ensure.bump",
		"jobs[0].plan[3].http.url":                   "jobs[0].steps[3].http.url",
		"jobs[0].plan[0].from_space":                 "jobs[0].steps[0].fromSpace",
		"jobs[3].max_in_flight":                      "jobs[3].maxInFlight",
		"jobs[0].plan[0].in_parallel[0].in_parallel": "jobs[0].steps[0].inParallel[0].inParallel",
	} {
		if got := pipelinePath(in); got != want {
			t.Errorf("pipelinePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// fullPipeline uses every part of the model: each source type, each step
// kind, nested inParallel and try, hooks on jobs and on steps.
func fullPipeline() PipelineSettings {
	return PipelineSettings{
		Space: "ci", Name: "main", Paused: ptr(false), Retain: ptr(20),
		Sources: []PipelineSource{
			{Name: "repo", Type: "git", Uri: ptr("/srv/repo"), Branch: ptr("main"), Paths: []string{"web/"}, CheckEvery: ptr("1m")},
			{Name: "ver", Type: "semver", Initial: ptr("1.0.0")},
			{Name: "tick", Type: "time", Interval: ptr("10m")},
			{Name: "rel", Type: "app_release", App: ptr("web"), Gate: ptr(true)},
		},
		Jobs: []PipelineJob{
			{Name: "test", MaxInFlight: ptr(2), Steps: []PipelineStep{
				{Get: ptr("repo"), Trigger: ptr(true), Version: ptr("every")},
				{InParallel: []PipelineStep{
					{Task: ptr("unit"), Run: ptr("go test ./..."), Dir: ptr("repo"), Env: map[string]string{"CGO_ENABLED": "0"},
						Inputs: []string{"repo"}, Outputs: []string{"bin"}, Timeout: ptr("5m"), Attempts: ptr(2)},
					{Try: &PipelineStep{Task: ptr("lint"), Run: ptr("true")}},
					{InParallel: []PipelineStep{{Assert: ptr("up"), Command: ptr("true")}}},
				}},
				{Task: ptr("after"), Run: ptr("ls bin"), Inputs: []string{"bin"},
					OnFailure: &PipelineStep{Task: ptr("report"), Run: ptr("echo failed")}},
			}, Ensure: &PipelineStep{Task: ptr("cleanup"), Run: ptr("true")}},
			{Name: "ship", Serial: ptr(true), Steps: []PipelineStep{
				{Get: ptr("repo"), Trigger: ptr(true), Passed: []string{"test"}},
				{Environment: ptr("pr"), FromSpace: ptr("ci"), App: ptr("web"), Source: ptr("repo"), Ttl: ptr("30m")},
				{Assert: ptr("env"), Http: &PipelineHttpAssert{Url: "env:web/", Status: ptr(200), Contains: ptr("hello"), MaxLatency: ptr("500ms")}},
				{Deploy: ptr("web"), From: ptr("repo")},
				{Assert: ptr("answers"), Http: &PipelineHttpAssert{Url: "router:/", Host: ptr("web.example.test")}},
				{Assert: ptr("backup"), Backup: &PipelineBackupAssert{Path: "/var/backups", App: "web"}},
				{Get: ptr("ver")},
				{Put: ptr("ver"), Bump: ptr("minor")},
			}, OnSuccess: &PipelineStep{Task: ptr("notify"), Run: ptr("echo shipped")}, OnFailure: &PipelineStep{Task: ptr("page"), Run: ptr("echo failed")}},
		},
	}
}

// asTheCellHasIt sends spec through JSON, as the cell stores and returns it.
func asTheCellHasIt(t *testing.T, spec paved.PipelineSpec) *paved.Pipeline {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	pl := &paved.Pipeline{Space: "ci", Webhooks: map[string]paved.Webhook{}}
	if err := json.Unmarshal(b, &pl.PipelineSpec); err != nil {
		t.Fatal(err)
	}
	for _, s := range spec.Sources {
		pl.Webhooks[s.Name] = paved.Webhook{Path: "/v1/spaces/ci/pipelines/main/sources/" + s.Name + "/check", Token: "tok-" + s.Name}
	}
	return pl
}

// What the program declares comes back from the cell as it was written:
// an unchanged program is no change, the webhooks are outputs.
func TestPipelineRoundTrip(t *testing.T) {
	in := fullPipeline()
	spec, err := in.spec()
	if err != nil {
		t.Fatal(err)
	}
	if errs := spec.Validate(nil); len(errs) != 0 {
		t.Fatalf("a good pipeline fails: %v", errs)
	}
	if spec.Jobs[0].Plan[1].InParallel[1].Try.Task != "lint" || spec.Jobs[0].Plan[1].InParallel[2].InParallel[0].Assert != "up" ||
		spec.Jobs[0].Plan[2].OnFailure.Task != "report" || spec.Jobs[1].Plan[2].HTTP.MaxLatency.D().String() != "500ms" {
		t.Fatalf("the nested steps did not map: %+v", spec.Jobs[0].Plan)
	}
	st := pipelineState(asTheCellHasIt(t, spec), in)
	if !reflect.DeepEqual(st.PipelineSettings, in) {
		a, _ := json.MarshalIndent(st.PipelineSettings, "", " ")
		t.Errorf("read back differs:\n%s", a)
	}
	if got := changedPipeline(in, st.PipelineSettings); len(got) != 0 {
		t.Errorf("an unchanged pipeline differs in %v", got)
	}
	if st.WebhookPaths["repo"] != "/v1/spaces/ci/pipelines/main/sources/repo/check" {
		t.Errorf("webhooks: %v", st.WebhookPaths)
	}
	// Secrets go to the cell but never into the outputs, generated ones
	// (which the cell returns once) neither.
	sent, _ := fullPipeline().spec()
	sent.WebhookSecrets = map[string]string{"repo": "a-webhook-secret-0123456789abcdefghij"}
	out := pipelineState(asTheCellHasIt(t, sent), fullPipeline())
	if b, _ := json.Marshal(out); strings.Contains(string(b), "a-webhook-secret") || strings.Contains(string(b), "tok-") {
		t.Errorf("the outputs hold a webhook secret: %s", b)
	}

	// Same meaning, other spelling: no change.
	other := fullPipeline()
	other.Sources[0].CheckEvery = ptr("60s")
	other.Retain = ptr(20)
	other.Paused = nil
	other.Jobs[0].Steps[0].Passed = []string{}
	if got := changedPipeline(other, st.PipelineSettings); len(got) != 0 {
		t.Errorf("an equivalent pipeline differs in %v", got)
	}

	// Changed outside: drift at the property.
	drifted := asTheCellHasIt(t, spec)
	drifted.Paused = true
	drifted.Jobs[1].Plan[4].HTTP.Contains = "bye"
	got := changedPipeline(in, pipelineState(drifted, in).PipelineSettings)
	if !slices.Equal(got, []string{"paused", "jobs[1]"}) {
		t.Errorf("drift shows as %v, want paused and jobs[1]", got)
	}
	fewer := asTheCellHasIt(t, spec)
	fewer.Sources = fewer.Sources[:3]
	if got := changedPipeline(in, pipelineState(fewer, in).PipelineSettings); !slices.Equal(got, []string{"sources"}) {
		t.Errorf("a removed source shows as %v", got)
	}

	// An import has no prior state: what the cell has, zero values left out.
	imported := pipelineState(asTheCellHasIt(t, spec), PipelineSettings{})
	if imported.Paused != nil || imported.Sources[0].CheckEvery == nil || *imported.Sources[0].CheckEvery != "1m0s" ||
		imported.Jobs[1].Steps[0].Passed[0] != "test" {
		t.Errorf("imported: %+v", imported.PipelineSettings)
	}
	if got := changedPipeline(in, imported.PipelineSettings); len(got) != 0 {
		t.Errorf("the imported pipeline differs from the program in %v", got)
	}
}

// Check's failures sit at the property paths; those about values not
// known yet are dropped.
func TestPipelineCheckPaths(t *testing.T) {
	in := fullPipeline()
	in.Jobs[1].Steps[0].Passed = []string{"nope"}
	in.Jobs[0].Steps[0].Get = ptr("ghost")
	in.Jobs[0].Steps[1].InParallel[0].Run = nil
	in.Sources[2].Interval = ptr("soon")
	var c checker
	c.pipelineDurations(in)
	spec, err := in.spec()
	if err == nil {
		t.Error("a bad duration maps without an error")
	}
	for _, fe := range spec.Validate(nil) {
		at := pipelinePath(fe.Field)
		c.add(at, fe.Message, pipelineDeps(at, in)...)
	}
	var paths []string
	for _, f := range c.failures(property.Map{}) {
		paths = append(paths, f.Property)
	}
	for _, want := range []string{"sources[2].interval", "jobs[0].steps[0].get", "jobs[0].steps[1].inParallel[0].run", "jobs[1].steps[0].passed[0]"} {
		if !slices.Contains(paths, want) {
			t.Errorf("no failure at %s: %v", want, paths)
		}
	}
	if i := slices.IndexFunc(c.list, func(f failure) bool { return f.Property == "sources[2].interval" }); i < 0 ||
		c.list[i].Reason != `"soon" is not a duration; write it like "500ms", "15s" or "2m"` {
		t.Errorf("the bad interval is not reported as a duration: %+v", c.list)
	}

	// The names the get and passed refer to are not known yet.
	unknown := property.NewMap(map[string]property.Value{
		"sources": property.New([]property.Value{property.New(map[string]property.Value{
			"name": property.New(property.Computed), "type": property.New("git"),
		})}),
		"jobs": property.New([]property.Value{
			property.New(map[string]property.Value{"name": property.New("test")}),
			property.New(map[string]property.Value{"name": property.New(property.Computed)}),
		}),
	})
	for _, f := range c.failures(unknown) {
		if f.Property == "jobs[0].steps[0].get" || f.Property == "jobs[1].steps[0].passed[0]" {
			t.Errorf("a failure about names not known yet: %+v", f)
		}
	}
}

// A pipeline the cell refuses (a deploy to an app the space lacks, which
// Check cannot know) fails the update naming the property path.
func TestPipelineRefusedAtPath(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Path != "/v1/spaces/ci/pipelines/main" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		w.Write([]byte(`{"error":{"code":"invalid","field":"jobs[1].plan[3].deploy","message":"deploy to unknown app \"web\": it must exist in the pipeline's space"}}`))
	}))
	defer srv.Close()
	c, err := paved.NewClient(paved.Config{Endpoint: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = setPipeline(context.Background(), c, PipelineArgs{PipelineSettings: fullPipeline()})
	want := `the cell refused pipeline ci/main: jobs[1].steps[3].deploy: deploy to unknown app "web": it must exist in the pipeline's space`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}
