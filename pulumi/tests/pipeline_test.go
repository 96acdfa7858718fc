package tests

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
	pv "github.com/pavedroad/terraform-provider-paved/pulumi/sdk/go/paved"
)

const pipelineType = "paved:index:Pipeline"

// gitRepo is a real git repository (a copy of examples/hello on main) a
// test commits to.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("the pipeline tests need git: ", err)
	}
	r := &gitRepo{t: t, dir: copyDir(t, filepath.Join(moduleRoot(), "..", "examples", "hello"))}
	r.git("init", "--quiet", "--initial-branch=main")
	r.commit("first")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (name, content, …) and commits them; it returns the sha.
func (r *gitRepo) commit(msg string, files ...string) string {
	r.t.Helper()
	for i := 0; i+1 < len(files); i += 2 {
		if err := os.WriteFile(filepath.Join(r.dir, files[i]), []byte(files[i+1]), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "--quiet", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// TestPulumiPipeline: a pipeline over a real git repository, in the same
// program as the app it deploys to. up sets it; a commit, announced with
// the webhook path of the stack's outputs and the program's secret, is
// tested and rolled out to the app (its answer through the router
// changes); an unchanged program previews nothing; the webhook secret is
// a secret input, never an output nor in plain text in the state; a
// change made outside shows at refresh and up undoes it; a change of the
// program is an update; destroy deletes the pipeline.
func TestPulumiPipeline(t *testing.T) {
	c := testcell.Start(t)
	repo := newGitRepo(t)
	const ciHost = "web.ci.example.test"
	const webhookSecret = "pulumi-webhook-secret-0123456789abcdef"
	var retain pulumi.IntPtrInput // not set, then 50
	// pipelineArgs is the pipeline: in space, deploying to app.
	pipelineArgs := func(space, app pulumi.StringInput) *pv.PipelineArgs {
		return &pv.PipelineArgs{
			Space: space, Name: pulumi.String("ci"), Retain: retain,
			WebhookSecrets: pulumi.StringMap{"repo": pulumi.String(webhookSecret)},
			Sources: pv.PipelineSourceArray{pv.PipelineSourceArgs{
				Name: pulumi.String("repo"), Type: pulumi.String("git"), Uri: pulumi.String(repo.dir),
				Branch: pulumi.String("main"), CheckEvery: pulumi.String("1h"), // the webhook checks at once
			}},
			Jobs: pv.PipelineJobArray{
				pv.PipelineJobArgs{
					Name: pulumi.String("test"),
					Steps: pv.PipelineStepArray{
						pv.PipelineStepArgs{Get: pulumi.String("repo"), Trigger: pulumi.Bool(true)},
						pv.PipelineStepArgs{InParallel: pv.PipelineStepArray{
							pv.PipelineStepArgs{Task: pulumi.String("files"), Dir: pulumi.String("repo"), Run: pulumi.String("test -f main.go && test -f go.mod")},
							pv.PipelineStepArgs{Task: pulumi.String("serves"), Dir: pulumi.String("repo"), Run: pulumi.String("grep -q ListenAndServe main.go")},
						}},
					},
					Ensure: pv.PipelineStepArgs{Task: pulumi.String("cleanup"), Run: pulumi.String("true")},
				},
				pv.PipelineJobArgs{
					Name: pulumi.String("ship"), Serial: pulumi.Bool(true),
					Steps: pv.PipelineStepArray{
						pv.PipelineStepArgs{Get: pulumi.String("repo"), Trigger: pulumi.Bool(true), Passed: pulumi.StringArray{pulumi.String("test")}},
						pv.PipelineStepArgs{Deploy: app, From: pulumi.String("repo")},
						pv.PipelineStepArgs{Assert: pulumi.String("answers"), Http: pv.PipelineHttpAssertArgs{
							Url: pulumi.String("router:/"), Host: pulumi.String(ciHost), Contains: pulumi.String("from paved"),
						}},
					},
				},
			},
		}
	}
	program := func(ctx *pulumi.Context) error {
		space, err := pv.NewSpace(ctx, "ci", &pv.SpaceArgs{Name: pulumi.String("ci")})
		if err != nil {
			return err
		}
		// The app runs what the repository holds; the pipeline ships each commit to it.
		app, err := pv.NewApp(ctx, "web", &pv.AppArgs{
			Space: space.Name, Name: pulumi.String("web"), Source: pulumi.String(repo.dir),
			Build: pulumi.String("go build -o hello ."), Command: pulumi.String("./hello"),
			Routes:      pulumi.StringArray{pulumi.String(ciHost)},
			HealthCheck: &pv.HealthCheckArgs{Type: pulumi.String("http"), Path: pulumi.String("/healthz"), Interval: pulumi.String("500ms")},
		})
		if err != nil {
			return err
		}
		pl, err := pv.NewPipeline(ctx, "ci", pipelineArgs(space.Name, app.Name))
		if err != nil {
			return err
		}
		ctx.Export("pipelineId", pl.ID())
		ctx.Export("webhookPaths", pl.WebhookPaths)
		return nil
	}
	s := newStack(t, "pipeline", c.Endpoint, c.Token, program)
	ctx := context.Background()
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			s.Destroy(ctx)
		}
	})

	// A preview of the new stack plans the space, the app and the pipeline
	// (whose space and app are not created yet) and changes nothing.
	if pre := previewOf(t, s); pre.summary[apitype.OpCreate] != 4 || len(pre.changes()) != 1 {
		t.Errorf("the first preview plans %v, want 4 creates", pre.summary)
	}
	if h, _ := c.Client.Health(ctx); h == nil || h.Counts.Spaces != 0 {
		t.Errorf("a preview changed the cell: %+v", h)
	}

	// up: the space, the app and the pipeline.
	start := time.Now()
	up, err := s.Up(ctx, optup.ProgressStreams(s.log()))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Logf("up (space, app, pipeline) took %s", time.Since(start).Round(time.Millisecond))
	if got := changesOf(up.Summary); got["create"] != 4 {
		t.Errorf("up created %v, want the stack, the space, the app and the pipeline", got)
	}
	pl, err := c.Client.Pipelines.Get(ctx, "ci", "ci")
	if err != nil {
		t.Fatalf("the cell has no pipeline after up: %v", err)
	}
	if len(pl.Sources) != 1 || pl.Sources[0].URI != repo.dir || pl.Sources[0].CheckEvery.D() != time.Hour ||
		len(pl.Jobs) != 2 || len(pl.Jobs[0].Plan[1].InParallel) != 2 || pl.Jobs[0].Ensure == nil || pl.Jobs[0].Ensure.Task != "cleanup" ||
		!pl.Jobs[1].Serial || pl.Jobs[1].Plan[1].Deploy != "web" || pl.Jobs[1].Plan[2].HTTP == nil || pl.Jobs[1].Plan[2].HTTP.Host != ciHost {
		t.Errorf("the cell's pipeline is not the program's: %+v", pl.PipelineSpec)
	}
	if id := up.Outputs["pipelineId"].Value; id != "ci/ci" {
		t.Errorf("the pipeline's ID is %v, want ci/ci", id)
	}
	paths, _ := up.Outputs["webhookPaths"].Value.(map[string]any)
	hook := pl.Webhooks["repo"]
	if paths["repo"] != hook.Path || hook.Path == "" {
		t.Errorf("webhookPaths = %v, want repo → %q", paths, hook.Path)
	}
	if hook.Token != "" {
		t.Error("a read of the pipeline shows a webhook secret")
	}
	if up.Outputs["webhookPaths"].Secret {
		t.Error("webhookPaths is a secret")
	}
	tokensAreSecret(t, s, webhookSecret)

	// An unchanged program previews no changes.
	start = time.Now()
	if pre := previewOf(t, s); len(pre.changes()) != 0 {
		t.Errorf("an unchanged program previews changes: %v", pre.changes())
	}
	t.Logf("preview (unchanged) took %s", time.Since(start).Round(time.Millisecond))

	// The pipeline builds the first commit as soon as it is set.
	first := repo.git("rev-parse", "HEAD")
	if b := buildOf(t, c, "ship", first, 2*time.Minute); b.Status != paved.BuildSucceeded {
		t.Fatalf("the ship build of the first commit: %s %s\n%s", b.Status, b.Reason, buildLog(c, b))
	}
	answersAt(t, c.RouterAddr, ciHost, "hello from paved")

	// A commit, announced with the webhook path of the outputs and the secret,
	// is tested and reaches the app: its answer through the router changes.
	main, _ := os.ReadFile(filepath.Join(repo.dir, "main.go"))
	sha := repo.commit("say v2", "main.go", strings.Replace(string(main), `"hello from paved"`, `"hello v2 from paved"`, 1))
	start = time.Now()
	req, _ := http.NewRequest(http.MethodPost, c.Endpoint+paths["repo"].(string), nil)
	req.Header.Set("X-Paved-Webhook-Token", webhookSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST the webhook: %v %v", resp, err)
	}
	resp.Body.Close()
	if b := buildOf(t, c, "test", sha, time.Minute); b.Status != paved.BuildSucceeded {
		t.Fatalf("the test build of v2: %s %s\n%s", b.Status, b.Reason, buildLog(c, b))
	}
	ship := buildOf(t, c, "ship", sha, 2*time.Minute)
	if ship.Status != paved.BuildSucceeded {
		t.Fatalf("the ship build of v2: %s %s\n%s", ship.Status, ship.Reason, buildLog(c, ship))
	}
	var steps []string
	for _, st := range ship.Steps {
		steps = append(steps, st.Name)
	}
	if !slices.Equal(steps, []string{"get repo", "deploy web", "assert answers"}) {
		t.Errorf("the ship build ran %v", steps)
	}
	answersAt(t, c.RouterAddr, ciHost, "hello v2 from paved")
	t.Logf("commit → v2 answering through the router: %s", time.Since(start).Round(time.Millisecond))

	// A change made outside (the pipeline paused) is drift: refresh records
	// it; the app, which runs the commit the repository holds, agrees with
	// the program; the preview plans to unpause, and up does.
	outside := pl.PipelineSpec
	outside.Paused = true
	if _, err := c.Client.Pipelines.Set(ctx, "ci", outside); err != nil {
		t.Fatal(err)
	}
	refreshSteps := collectSteps()
	if _, err := s.Refresh(ctx, optrefresh.ProgressStreams(s.log()), optrefresh.EventStreams(refreshSteps.ch)); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if st := refreshSteps.outcomes(pipelineType); len(st) != 1 || !slices.Contains(st[0].Diffs, "paused") {
		t.Errorf("the pipeline's refresh step: %+v, want a diff of paused", st)
	}
	pre := previewOf(t, s)
	if got := pre.changes(); got[apitype.OpUpdate] != 1 || len(got) != 1 {
		t.Errorf("after the drift the preview plans %v, want one update", got)
	}
	if st := pre.steps.of(pipelineType); len(st) != 1 || st[0].Op != apitype.OpUpdate || !slices.Equal(st[0].Diffs, []string{"paused"}) {
		t.Errorf("the pipeline's preview step after the drift: %+v, want an update of paused", st)
	}
	if _, err := s.Up(ctx, optup.ProgressStreams(s.log())); err != nil {
		t.Fatalf("up after the drift: %v", err)
	}
	if p, err := c.Client.Pipelines.Get(ctx, "ci", "ci"); err != nil || p.Paused {
		t.Errorf("up did not unpause the pipeline (%v)", err)
	}

	// A change of the program is an update in place: builds and webhook
	// tokens stay.
	retain = pulumi.Int(50)
	pre = previewOf(t, s)
	if st := pre.steps.of(pipelineType); len(st) != 1 || st[0].Op != apitype.OpUpdate || !slices.Equal(st[0].Diffs, []string{"retain"}) {
		t.Errorf("a new retain previews %+v, want an update of retain", st)
	}
	up, err = s.Up(ctx, optup.ProgressStreams(s.log()))
	if err != nil {
		t.Fatalf("up (retain): %v", err)
	}
	if got := changesOf(up.Summary); got["update"] != 1 || got["replace"] != 0 {
		t.Errorf("up (retain) changed %v, want one update", got)
	}
	p, err := c.Client.Pipelines.Get(ctx, "ci", "ci")
	if err != nil || p.Retain != 50 {
		t.Errorf("after the update (%v): retain %d, want 50", err, p.Retain)
	}
	if err := c.Client.Pipelines.Webhook(ctx, "ci", "ci", "repo", webhookSecret); err != nil {
		t.Errorf("after the update the webhook secret no longer works: %v", err)
	}
	if builds, err := c.Client.Pipelines.Builds(ctx, "ci", "ci", "ship"); err != nil || len(builds) < 2 {
		t.Errorf("the ship builds after the update: %d, %v", len(builds), err)
	}
	if pre := previewOf(t, s); len(pre.changes()) != 0 {
		t.Errorf("after the update the preview shows changes: %v", pre.changes())
	}

	// Another stack imports the pipeline by SPACE/NAME: the program's
	// inputs are what the cell has (durations compared by value), so the
	// import succeeds, and the webhook secret, which no read shows, is then
	// sent by an update; that stack lets go of it on destroy.
	imp := newStack(t, "pipeline-import", c.Endpoint, c.Token, func(ctx *pulumi.Context) error {
		_, err := pv.NewPipeline(ctx, "ci", pipelineArgs(pulumi.String("ci"), pulumi.String("web")),
			pulumi.Import(pulumi.ID("ci/ci")), pulumi.RetainOnDelete(true))
		return err
	})
	impSteps := collectSteps()
	if _, err := imp.Up(ctx, optup.ProgressStreams(imp.log()), optup.EventStreams(impSteps.ch)); err != nil {
		t.Fatalf("up (import): %v", err)
	}
	if st := impSteps.of(pipelineType); len(st) != 2 || st[0].Op != apitype.OpImport ||
		st[1].Op != apitype.OpUpdate || !slices.Equal(st[1].Diffs, []string{"webhookSecrets"}) {
		t.Errorf("the import's steps: %+v, want an import and an update of webhookSecrets", st)
	}
	if pre := previewOf(t, imp); len(pre.changes()) != 0 {
		t.Errorf("after the import the preview shows changes: %v", pre.changes())
	}
	tokensAreSecret(t, imp, webhookSecret)
	if _, err := imp.Destroy(ctx, optdestroy.ProgressStreams(imp.log())); err != nil {
		t.Fatalf("destroy (import): %v", err)
	}
	if _, err := c.Client.Pipelines.Get(ctx, "ci", "ci"); err != nil {
		t.Fatalf("the importing stack deleted the pipeline: %v", err)
	}

	// destroy deletes the pipeline (the space could not go otherwise).
	since := lastEvent(t, c)
	start = time.Now()
	if _, err := s.Destroy(ctx, optdestroy.ProgressStreams(s.log())); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	t.Logf("destroy took %s", time.Since(start).Round(time.Millisecond))
	if _, err := c.Client.Pipelines.Get(ctx, "ci", "ci"); !paved.IsNotFound(err) {
		t.Errorf("the pipeline after destroy: %v, want not found", err)
	}
	evs, err := c.Client.Events.List(ctx, paved.ListEventsOptions{After: since})
	if err != nil || !slices.ContainsFunc(evs, func(e paved.Event) bool { return e.Action == "pipeline.delete" && e.Object == "pipeline/ci/ci" }) {
		t.Errorf("destroy did not delete the pipeline: events %+v, %v", evs, err)
	}
	if h, err := c.Client.Health(ctx); err != nil || h.Counts.Spaces != 0 || h.Counts.Apps != 0 {
		t.Errorf("after destroy the cell holds %+v, %v", h, err)
	}
}

// TestPulumiPipelineCheck: a bad pipeline fails the preview in Check,
// before any cell is called, at the property paths of the program.
func TestPulumiPipelineCheck(t *testing.T) {
	program := func(ctx *pulumi.Context) error {
		_, err := pv.NewPipeline(ctx, "bad", &pv.PipelineArgs{
			Space: pulumi.String("ci"), Name: pulumi.String("ci"),
			Sources: pv.PipelineSourceArray{pv.PipelineSourceArgs{
				Name: pulumi.String("repo"), Type: pulumi.String("git"), Uri: pulumi.String("/srv/repo"), CheckEvery: pulumi.String("soon"),
			}},
			Jobs: pv.PipelineJobArray{
				pv.PipelineJobArgs{Name: pulumi.String("test"), Steps: pv.PipelineStepArray{
					pv.PipelineStepArgs{Get: pulumi.String("nope"), Trigger: pulumi.Bool(true)},
				}},
				pv.PipelineJobArgs{Name: pulumi.String("ship"), Steps: pv.PipelineStepArray{
					pv.PipelineStepArgs{Get: pulumi.String("repo"), Passed: pulumi.StringArray{pulumi.String("test"), pulumi.String("ghost")}},
					pv.PipelineStepArgs{InParallel: pv.PipelineStepArray{
						pv.PipelineStepArgs{Task: pulumi.String("unit")},
						pv.PipelineStepArgs{Deploy: pulumi.String("web"), From: pulumi.String("repo")},
					}},
				}, OnFailure: pv.PipelineStepArgs{Put: pulumi.String("repo"), Bump: pulumi.String("patch")}},
			},
		})
		return err
	}
	s := newStack(t, "pipeline-check", "http://127.0.0.1:9", "token", program)
	var out strings.Builder
	_, err := s.Preview(context.Background(), optpreview.ProgressStreams(&out))
	if err == nil {
		t.Fatalf("a preview with a bad pipeline succeeded:\n%s", out.String())
	}
	text := out.String() + err.Error()
	defer func() {
		if t.Failed() {
			t.Log(text)
		}
	}()
	for _, want := range []struct{ path, reason string }{
		{"jobs[0].steps[0].get", `get of unknown source "nope"`},
		{"jobs[1].steps[0].passed[1]", `passed names unknown job "ghost"`},
		{"jobs[1].steps[1].inParallel[0].run", `task "unit" needs a command to run`},
		{"jobs[1].onFailure.put", `put only bumps semver sources; "repo" is a git source`},
		{"sources[0].checkEvery", `"soon" is not a duration`},
	} {
		if !strings.Contains(text, "resource 'bad': property "+want.path+" value") || !strings.Contains(text, want.reason) {
			t.Errorf("no failure at %s saying %q", want.path, want.reason)
		}
	}
	for _, good := range []string{"space", "name", "jobs[1].steps[0].passed[0]", "jobs[1].steps[1].inParallel[1].from", "sources[0].uri"} {
		if strings.Contains(text, "resource 'bad': property "+good+" value") {
			t.Errorf("the good %s was refused", good)
		}
	}
}

// tokensAreSecret: the pipeline's webhookSecrets input is recorded as a
// Pulumi secret and is no output, and no file of the backend holds the
// secret in plain text.
func tokensAreSecret(t *testing.T, s *stack, secret string) {
	t.Helper()
	found := false
	for _, r := range deployment(t, s).Resources {
		if string(r.Type) != pipelineType {
			continue
		}
		found = true
		if _, ok := r.Outputs["webhookSecrets"]; ok {
			t.Errorf("the pipeline has a webhookSecrets output: %v", r.Outputs["webhookSecrets"])
		}
		if in, _ := r.Inputs["webhookSecrets"].(map[string]any); in[secretSig] != secretSigValue {
			t.Errorf("the pipeline's webhookSecrets input is not a secret: %v", r.Inputs["webhookSecrets"])
		}
	}
	if !found {
		t.Error("no pipeline in the state")
	}
	backend := strings.TrimPrefix(s.Workspace().GetEnvVars()["PULUMI_BACKEND_URL"], "file://")
	filepath.WalkDir(backend, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, _ := os.ReadFile(path); strings.Contains(string(b), secret) {
			t.Errorf("%s holds a webhook secret in plain text", path)
		}
		return nil
	})
}

// buildOf waits until job of pipeline ci/ci has a finished build of the
// repository at sha.
func buildOf(t *testing.T, c *testcell.Cell, job, sha string, within time.Duration) paved.JobBuild {
	t.Helper()
	deadline := time.Now().Add(within)
	last := "no build yet"
	for time.Now().Before(deadline) {
		bs, err := c.Client.Pipelines.Builds(context.Background(), "ci", "ci", job)
		if err != nil {
			last = err.Error()
		}
		for _, b := range bs {
			if b.Inputs["repo"] != sha {
				continue
			}
			if b.FinishedAt != nil {
				return b
			}
			last = fmt.Sprintf("build #%d is %s", b.Number, b.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no finished %s build of %.12s within %s: %s", job, sha, within, last)
	return paved.JobBuild{}
}

func buildLog(c *testcell.Cell, b paved.JobBuild) string {
	log, err := c.Client.Pipelines.BuildLog(context.Background(), b.ID)
	if err != nil {
		return err.Error()
	}
	return log
}

// lastEvent is the ID of the cell's newest audit event.
func lastEvent(t *testing.T, c *testcell.Cell) int64 {
	t.Helper()
	var after int64
	for {
		evs, err := c.Client.Events.List(context.Background(), paved.ListEventsOptions{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return after
		}
		after = evs[len(evs)-1].ID
	}
}
