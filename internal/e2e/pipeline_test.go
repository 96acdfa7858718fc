package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// gitRepo is a real git repository a test commits to.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	r := &gitRepo{t: t, dir: helloDir(t)}
	r.git("init", "--quiet", "--initial-branch=main")
	r.commit("first")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (name → content; "" deletes) and commits them.
func (r *gitRepo) commit(msg string, files ...string) string {
	r.t.Helper()
	for i := 0; i+1 < len(files); i += 2 {
		p := filepath.Join(r.dir, files[i])
		if files[i+1] == "" {
			os.Remove(p)
		} else if err := os.WriteFile(p, []byte(files[i+1]), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "--quiet", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// setPipeline writes YAML and sets it with `paved pipeline set -c` in space demo.
func (c *cell) setPipeline(t *testing.T, yaml string) *paved.Pipeline {
	t.Helper()
	return c.setPipelineIn(t, "demo", yaml)
}

// setPipelineIn is setPipeline in a given space.
func (c *cell) setPipelineIn(t *testing.T, space, yaml string) *paved.Pipeline {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pipeline.yml")
	os.WriteFile(path, []byte(yaml), 0o644)
	args := []string{"pipeline", "set", "-c", path, "--space", space}
	if strings.Contains(yaml, "name: repo,") || strings.Contains(yaml, "- name: repo\n") {
		// Source repo's webhook secret is chosen here: the cell never shows it.
		secret := filepath.Join(dir, "webhook-secret")
		os.WriteFile(secret, []byte(e2eWebhookSecret+"\n"), 0o600)
		args = append(args, "--webhook-secret-file", "repo="+secret)
	}
	c.mustPaved(args...)
	name := strings.TrimSpace(strings.SplitN(strings.SplitN(yaml, "name:", 2)[1], "\n", 2)[0])
	p, err := c.client.Pipelines.Get(context.Background(), space, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// buildOf waits for the build of job with source repo at sha and returns it once finished.
func (c *cell) buildOf(t *testing.T, pipeline, job, sha string, within time.Duration) paved.JobBuild {
	t.Helper()
	return c.buildOfIn(t, "demo", pipeline, job, sha, within)
}

// buildOfIn is buildOf in a given space.
func (c *cell) buildOfIn(t *testing.T, space, pipeline, job, sha string, within time.Duration) paved.JobBuild {
	t.Helper()
	var found paved.JobBuild
	eventually(t, within, fmt.Sprintf("a finished %s build of %.12s", job, sha), func() error {
		bs, err := c.client.Pipelines.Builds(context.Background(), space, pipeline, job)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if b.Inputs["repo"] == sha {
				if b.FinishedAt == nil {
					return fmt.Errorf("build #%d is %s", b.Number, b.Status)
				}
				found = b
				return nil
			}
		}
		return fmt.Errorf("no build yet (%d builds)", len(bs))
	})
	return found
}

func (c *cell) noBuildOf(t *testing.T, pipeline, job, sha string) {
	t.Helper()
	bs, err := c.client.Pipelines.Builds(context.Background(), "demo", pipeline, job)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Inputs["repo"] == sha {
			t.Fatalf("job %s built %.12s (#%d %s) but must not", job, sha, b.Number, b.Status)
		}
	}
}

// e2eWebhookSecret is the webhook secret setPipeline gives source repo.
const e2eWebhookSecret = "e2e-webhook-secret-0123456789abcdef"

func webhook(t *testing.T, c *cell, p *paved.Pipeline, source string) {
	t.Helper()
	hook := p.Webhooks[source]
	if hook.Token != "" {
		t.Fatalf("a read of pipeline %s shows the webhook secret of %s", p.Name, source)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+c.api+hook.Path, nil)
	req.Header.Set("X-Paved-Webhook-Token", e2eWebhookSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("webhook: %v %v", resp, err)
	}
	resp.Body.Close()
}

const ciPipeline = `name: ci
sources:
  - name: repo
    type: git
    uri: %s
    branch: main
    check_every: %s
jobs:
  - name: test
    plan:
      - get: repo
        trigger: true
      - task: unit
        dir: repo
        run: test -f main.go && ! test -f FAIL && echo tests pass
  - name: deploy
    plan:
      - get: repo
        trigger: true
        passed: [test]
      - deploy: web
        from: repo
      - assert: answers
        http:
          url: "router:/"
          host: web.example.test
          contains: "%s"
`

// TestPipelineCommitToCanary: a commit and its webhook start a build at
// once; tests run, the deploy step rolls out the new release with its
// canary, the assert checks it answers, and the release is good. A commit
// whose tests fail is never deployed.
func TestPipelineCommitToCanary(t *testing.T) {
	c := startCell(t)
	repo := newGitRepo(t)
	c.pushHello("demo", "web", "web.example.test", 2)
	updateApp(t, c, "demo", "web", fastHealth)
	updateApp(t, c, "demo", "web", setStrategy(paved.DeploymentSpec{Strategy: paved.StrategyCanary, MinRequests: 1,
		Steps: []paved.CanaryStep{{Instances: 1, Watch: paved.Duration(time.Second)}}}))
	load := startRateLoad(c, "web.example.test", 2, 20*time.Millisecond) // the canary gate needs traffic
	defer load.finish()

	p := c.setPipeline(t, fmt.Sprintf(ciPipeline, repo.dir, "1h", "hello v2"))
	first := repo.git("rev-parse", "HEAD")
	if b := c.buildOf(t, "ci", "test", first, 30*time.Second); b.Status != paved.BuildSucceeded {
		t.Fatalf("first test build: %s %s", b.Status, b.Reason)
	}
	before := c.appShow("demo", "web").Release

	// A new commit: the webhook makes it build long before the 1h poll would.
	sha := repo.commit("say v2", "main.go", strings.Replace(readFile(t, filepath.Join(repo.dir, "main.go")), `"hello from paved"`, `"hello v2"`, 1))
	hookAt := time.Now()
	webhook(t, c, p, "repo")
	test := c.buildOf(t, "ci", "test", sha, 30*time.Second)
	if test.Status != paved.BuildSucceeded || test.StartedAt == nil {
		t.Fatalf("test build of v2: %+v", test)
	}
	t.Logf("webhook → build start: %s", test.StartedAt.Sub(hookAt).Round(time.Millisecond))
	deploy := c.buildOf(t, "ci", "deploy", sha, 2*time.Minute)
	if deploy.Status != paved.BuildSucceeded {
		log, _ := c.client.Pipelines.BuildLog(context.Background(), deploy.ID)
		t.Fatalf("deploy build of v2: %s %s\n%s", deploy.Status, deploy.Reason, log)
	}
	names := []string{}
	for _, st := range deploy.Steps {
		names = append(names, st.Name)
		if st.Status != paved.StepSucceeded || st.StartedAt == nil || st.FinishedAt == nil {
			t.Fatalf("step %+v", st)
		}
	}
	if strings.Join(names, ",") != "get repo,deploy web,assert answers" {
		t.Fatalf("deploy steps: %v", names)
	}
	v := c.appShow("demo", "web")
	if v.Release != before+1 || v.LastGoodRelease != before+1 {
		t.Fatalf("after the pipeline: release %d, last good %d (before %d)", v.Release, v.LastGoodRelease, before)
	}
	deps, _ := c.client.Deployments.List(context.Background(), "demo", "web")
	if deps[0].Strategy.Strategy != paved.StrategyCanary || deps[0].Status != paved.DeploymentSucceeded {
		t.Fatalf("the pipeline's rollout: %+v", deps[0])
	}

	// A commit whose tests fail: the deploy job never runs for it.
	bad := repo.commit("break the tests", "FAIL", "x")
	webhook(t, c, p, "repo")
	if b := c.buildOf(t, "ci", "test", bad, 30*time.Second); b.Status != paved.BuildFailed {
		t.Fatalf("test build of a failing commit: %s", b.Status)
	}
	time.Sleep(time.Second) // give a wrong deploy the chance to show up
	c.noBuildOf(t, "ci", "deploy", bad)

	timings, err := c.client.Pipelines.Timings(context.Background(), "demo", "ci", 10)
	if err != nil || len(timings) == 0 {
		t.Fatalf("timings: %v %v", timings, err)
	}
	out := c.mustPaved("pipeline", "timings", "ci", "--space", "demo")
	if !strings.Contains(out, "deploy web") || !strings.Contains(out, "task unit") {
		t.Fatalf("paved pipeline timings:\n%s", out)
	}
	watch := c.mustPaved("builds", "watch", "ci/deploy", "--space", "demo")
	if !strings.Contains(watch, "succeeded") || !strings.Contains(watch, "deploy web") {
		t.Fatalf("paved builds watch:\n%s", watch)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPipelineFanInAndPolling: job C with passed [A, B] runs only for
// versions that passed both, and polling alone picks commits up.
func TestPipelineFanInAndPolling(t *testing.T) {
	c := startCell(t)
	repo := newGitRepo(t)
	c.mustPaved("space", "create", "demo")
	c.setPipeline(t, fmt.Sprintf(`name: fan
sources:
  - name: repo
    type: git
    uri: %s
    check_every: 1s
jobs:
  - name: a
    plan:
      - get: repo
        trigger: true
      - task: ok
        run: "true"
  - name: b
    plan:
      - get: repo
        trigger: true
      - task: check
        dir: repo
        run: "! test -f BFAIL"
  - name: c
    plan:
      - get: repo
        trigger: true
        passed: [a, b]
      - task: ship
        run: echo shipping
`, repo.dir))
	v1 := repo.git("rev-parse", "HEAD")
	// The webhook takes only its own token: a wrong one, a bearer token that
	// is not the cell's, or an unknown pipeline all get the same 401.
	p, err := c.client.Pipelines.Get(context.Background(), "demo", "fan")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, token, bearer string }{
		{p.Webhooks["repo"].Path, "wrong", ""},
		{p.Webhooks["repo"].Path, e2eWebhookSecret + "x", ""},
		{p.Webhooks["repo"].Path, "", ""},
		{p.Webhooks["repo"].Path, "anything", "nope"},
		{strings.Replace(p.Webhooks["repo"].Path, "/fan/", "/ghost/", 1), "anything", ""},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+c.api+tc.path, nil)
		req.Header.Set("X-Paved-Webhook-Token", tc.token)
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("webhook %+v: %v %v, want 401", tc, resp, err)
		}
		resp.Body.Close()
	}
	if b := c.buildOf(t, "fan", "c", v1, 30*time.Second); b.Status != paved.BuildSucceeded {
		t.Fatalf("c for v1: %s", b.Status)
	}
	v2 := repo.commit("b fails", "BFAIL", "1")
	if b := c.buildOf(t, "fan", "b", v2, 30*time.Second); b.Status != paved.BuildFailed {
		t.Fatalf("b for v2: %s", b.Status)
	}
	if b := c.buildOf(t, "fan", "a", v2, 30*time.Second); b.Status != paved.BuildSucceeded {
		t.Fatalf("a for v2: %s", b.Status)
	}
	v3 := repo.commit("b passes again", "BFAIL", "")
	if b := c.buildOf(t, "fan", "c", v3, 30*time.Second); b.Status != paved.BuildSucceeded {
		t.Fatalf("c for v3: %s", b.Status)
	}
	c.noBuildOf(t, "fan", "c", v2)
}

// TestPipelineBadConfig: bad pipelines are refused with the path to the bad part.
func TestPipelineBadConfig(t *testing.T) {
	c := startCell(t)
	c.mustPaved("space", "create", "demo")
	good := `name: p
sources:
  - {name: repo, type: git, uri: /tmp/x}
jobs:
  - name: a
    plan:
      - {get: repo, trigger: true}
`
	cases := map[string]string{
		strings.Replace(good, "trigger: true", "trigger: true, triger: false", 1):                                                     "unknown field",
		strings.Replace(good, "get: repo", "get: nope", 1):                                                                            "jobs[0].plan[0].get: get of unknown source",
		good + "  - name: b\n    plan:\n      - {get: repo, passed: [zz]}\n":                                                          "jobs[1].plan[0].passed[0]: passed names unknown job",
		good + "  - name: b\n    plan:\n      - {deploy: web, from: repo}\n":                                                          "from \"repo\" is not made by an earlier",
		strings.Replace(good, "type: git", "type: svn", 1):                                                                            "sources[0].type: unknown source type",
		good + "  - name: b\n    plan:\n      - {get: repo, passed: [c]}\n  - name: c\n    plan:\n      - {get: repo, passed: [b]}\n": "form a cycle",
	}
	for yaml, want := range cases {
		path := filepath.Join(t.TempDir(), "p.yml")
		os.WriteFile(path, []byte(yaml), 0o644)
		if _, err := c.paved("pipeline", "set", "-c", path, "--space", "demo"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pipeline set of a bad config: %v; want %q", err, want)
		}
	}
	// Only the cell knows which apps exist.
	_, err := c.client.Pipelines.Set(context.Background(), "demo", paved.PipelineSpec{Name: "p",
		Sources: []paved.SourceSpec{{Name: "repo", Type: "git", URI: "/tmp/x"}},
		Jobs:    []paved.JobSpec{{Name: "a", Plan: []paved.Step{{Get: "repo", Trigger: true}, {Deploy: "ghost", From: "repo"}}}}})
	var apiErr *paved.APIError
	if !asAPIError(err, &apiErr) || apiErr.Field != "jobs[0].plan[1].deploy" || !strings.Contains(apiErr.Message, "unknown app") {
		t.Fatalf("deploy to an unknown app: %v", err)
	}
}

// TestPipelineBuildSurvivesCellKill: kill -9 during a build; after the
// restart that build is errored (not run again) and the next commit builds.
func TestPipelineBuildSurvivesCellKill(t *testing.T) {
	c := startCell(t)
	repo := newGitRepo(t)
	c.mustPaved("space", "create", "demo")
	name := fmt.Sprintf("slow-%d", time.Now().UnixNano()%1000000) // unique: the process check below looks machine-wide
	p := c.setPipeline(t, fmt.Sprintf(`name: %s
sources:
  - {name: repo, type: git, uri: %s, check_every: 1h}
jobs:
  - name: a
    plan:
      - {get: repo, trigger: true}
      - {task: wait, run: "sleep 300"}
`, name, repo.dir))
	v1 := repo.git("rev-parse", "HEAD")
	eventually(t, 30*time.Second, "the build runs its task", func() error {
		bs, err := c.client.Pipelines.Builds(context.Background(), "demo", name, "a")
		if err != nil || len(bs) == 0 || len(bs[0].Steps) < 2 {
			return fmt.Errorf("not yet: %v", err)
		}
		return nil
	})
	c.kill9()
	c.start()
	if pids := processesWithEnv("PAVED_PIPELINE", name); len(pids) > 0 {
		t.Fatalf("the killed build's processes survive: %v", pids)
	}
	bs, err := c.client.Pipelines.Builds(context.Background(), "demo", name, "a")
	if err != nil || len(bs) != 1 || bs[0].Status != paved.BuildErrored || bs[0].Inputs["repo"] != v1 {
		t.Fatalf("after the restart: %+v %v", bs, err)
	}
	p2, err := c.client.Pipelines.Get(context.Background(), "demo", p.Name)
	if err != nil {
		t.Fatal(err)
	}
	v2 := repo.commit("next")
	webhook(t, c, p2, "repo")
	eventually(t, 30*time.Second, "the next commit builds", func() error {
		bs, err := c.client.Pipelines.Builds(context.Background(), "demo", name, "a")
		if err != nil {
			return err
		}
		count := map[string]int{}
		for _, b := range bs {
			count[b.Inputs["repo"]]++
		}
		if count[v1] != 1 {
			return fmt.Errorf("v1 has %d builds", count[v1])
		}
		if count[v2] != 1 {
			return fmt.Errorf("v2 has %d builds", count[v2])
		}
		return nil
	})
}
