package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestPipelineStepKinds runs every step kind and source type once: semver
// with put, app_release, time, in_parallel, try, hooks, attempts, outputs
// passed between tasks.
func TestPipelineStepKinds(t *testing.T) {
	c := startCell(t)
	c.pushHello("demo", "web", "web.example.test", 1)
	// Tasks say what they saw as "MARK ..." lines in the build log (they
	// run in the space's sandbox, which cannot write the test's files).
	c.setPipeline(t, `name: kinds
sources:
  - {name: ver, type: semver, initial: 1.2.3, check_every: 1s}
  - {name: web-release, type: app_release, app: web, check_every: 1s}
  - {name: tick, type: time, interval: 1h, check_every: 1s}
jobs:
  - name: release
    plan:
      - in_parallel:
          - {get: ver, trigger: true, version: "1.2.3"}
          - {get: web-release}
          - {get: tick}
      - {task: make, outputs: [out], run: "cat ver/version > out/v && cat web-release/version > out/r"}
      - {task: use, inputs: [out], dir: out, run: "test -s v && test -s r && echo MARK version=$(cat v) release=$(cat r)"}
      - {task: flaky, attempts: 3, run: "n=$(cat tries 2>/dev/null || echo 0); echo $((n+1)) > tries; echo MARK tries=$((n+1)); test $n -ge 2"}
      - try: {task: may-fail, run: "exit 1"}
      - {put: ver, bump: minor}
      - task: last
        run: "true"
        ensure: {task: step-ensure, run: "echo MARK step-ensure"}
    on_success: {task: hook, run: "echo MARK on-success"}
    on_failure: {task: hook, run: "echo MARK on-failure"}
    ensure: {task: job-ensure, run: "echo MARK job-ensure"}
`)
	var b paved.JobBuild
	eventually(t, 60*time.Second, "the release job succeeds", func() error {
		bs, err := c.client.Pipelines.Builds(context.Background(), "demo", "kinds", "release")
		if err != nil || len(bs) == 0 || bs[len(bs)-1].FinishedAt == nil {
			return fmt.Errorf("no finished build yet (%v)", err)
		}
		b = bs[len(bs)-1] // the first build
		return nil
	})
	if b.Status != paved.BuildSucceeded {
		log, _ := c.client.Pipelines.BuildLog(context.Background(), b.ID)
		t.Fatalf("build %s: %s\n%s", b.Status, b.Reason, log)
	}
	log, err := c.client.Pipelines.BuildLog(context.Background(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	marks := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		if _, m, ok := strings.Cut(line, "MARK "); ok {
			for _, f := range strings.Fields(m) {
				marks[f] = true
			}
		}
	}
	for _, want := range []string{"version=1.2.3", "release=1", "tries=3", "step-ensure", "on-success", "job-ensure"} {
		if !marks[want] {
			t.Errorf("the build log lacks MARK %s (the version get, the app_release get, 3 attempts, the hooks):\n%s", want, log)
		}
	}
	if marks["tries=4"] {
		t.Error("the flaky task ran more than its 3 attempts")
	}
	if marks["on-failure"] {
		t.Error("on_failure ran for a successful build")
	}
	vs, err := c.client.Pipelines.Versions(context.Background(), "demo", "kinds", "ver")
	if err != nil || len(vs) != 2 || vs[1].Version != "1.3.0" {
		t.Fatalf("semver versions after put: %+v %v", vs, err)
	}
	steps := map[string]string{}
	for _, st := range b.Steps {
		steps[st.Name] = st.Status
	}
	if steps["task may-fail"] != paved.StepFailed || steps["put ver"] != paved.StepSucceeded {
		t.Fatalf("steps: %v", steps)
	}
	// The pinned get keeps building 1.2.3 only: the bumped version does not trigger it again.
	time.Sleep(1500 * time.Millisecond)
	bs, err := c.client.Pipelines.Builds(context.Background(), "demo", "kinds", "release")
	if err != nil || len(bs) == 0 {
		t.Fatalf("builds of release: %v (%d builds): nothing to check the pinned version on", err, len(bs))
	}
	for _, x := range bs {
		if x.Inputs["ver"] != "1.2.3" {
			t.Fatalf("a pinned get built version %s", x.Inputs["ver"])
		}
	}
}
