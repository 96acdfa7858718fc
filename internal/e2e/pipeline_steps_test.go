package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	marks := t.TempDir() // tasks leave files here, so the test sees what ran
	c.setPipeline(t, fmt.Sprintf(`name: kinds
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
      - {task: use, inputs: [out], dir: out, run: "test -s v && test -s r && cp v %[1]s/version && cp r %[1]s/release"}
      - {task: flaky, attempts: 3, run: "n=$(cat %[1]s/tries 2>/dev/null || echo 0); echo $((n+1)) > %[1]s/tries; test $n -ge 2"}
      - try: {task: may-fail, run: "exit 1"}
      - {put: ver, bump: minor}
      - task: last
        run: "true"
        ensure: {task: step-ensure, run: "touch %[1]s/step-ensure"}
    on_success: {task: hook, run: "touch %[1]s/on-success"}
    on_failure: {task: hook, run: "touch %[1]s/on-failure"}
    ensure: {task: job-ensure, run: "touch %[1]s/job-ensure"}
`, marks))
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
	if got := strings.TrimSpace(readFile(t, filepath.Join(marks, "version"))); got != "1.2.3" {
		t.Fatalf("the semver get gave %q", got)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(marks, "release"))); got != "1" {
		t.Fatalf("the app_release get gave %q", got)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(marks, "tries"))); got != "3" {
		t.Fatalf("the flaky task ran %s times, want 3 (attempts)", got)
	}
	for _, f := range []string{"step-ensure", "on-success", "job-ensure"} {
		if _, err := os.Stat(filepath.Join(marks, f)); err != nil {
			t.Errorf("%s did not run", f)
		}
	}
	if _, err := os.Stat(filepath.Join(marks, "on-failure")); err == nil {
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
