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

// TestPipelinePreviewEnvironment: for each commit the pipeline creates a
// preview environment, checks the new version in it, destroys it on
// success and deploys to production, whose snapshot then has the new
// release. A failing check leaves production alone and keeps the preview
// until its TTL, when everything of it goes.
func TestPipelinePreviewEnvironment(t *testing.T) {
	c := startCell(t)
	repo := newGitRepo(t)
	c.pushHello("prod", "web", "web.example.test", 2)
	updateApp(t, c, "prod", "web", fastHealth)
	backups := t.TempDir()
	ctx := context.Background()
	// The preview's TTL is short, so the test sees it expire, and longer
	// than making it takes on a loaded machine (a 4 s TTL ran out while the
	// step was still building the preview, under make test's load).
	p := c.setPipelineIn(t, "prod", fmt.Sprintf(`name: flow
sources:
  - {name: repo, type: git, uri: %s, check_every: 1h}
jobs:
  - name: ship
    plan:
      - {get: repo, trigger: true}
      - {environment: preview, from_space: prod, app: web, source: repo, ttl: 15s}
      - {assert: preview-answers, http: {url: "env:web/", contains: "hello"}}
      - {assert: no-known-bug, command: "! test -f repo/BUG"}
      - {deploy: web, from: repo}
      - {assert: backup-newer-than-release, backup: {path: %s, app: web}}
`, repo.dir, backups))

	// A good commit: preview checked and destroyed, then production.
	good := repo.commit("v2", "main.go", strings.Replace(readFile(t, filepath.Join(repo.dir, "main.go")), `"hello from paved"`, `"hello v2"`, 1))
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // the backup job of this test: a fresh backup every 100 ms
		defer close(stopped)
		for {
			os.WriteFile(filepath.Join(backups, "db.dump"), []byte(time.Now().String()), 0o644)
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-stopped }) // before the temp dir goes
	webhook(t, c, p, "repo")
	b := c.buildOfIn(t, "prod", "flow", "ship", good, 2*time.Minute)
	if b.Status != paved.BuildSucceeded {
		log, _ := c.client.Pipelines.BuildLog(ctx, b.ID)
		t.Fatalf("ship of a good commit: %s %s\n%s", b.Status, b.Reason, log)
	}
	previewName := fmt.Sprintf("preview-%d", b.ID)
	if _, err := c.client.Environments.Get(ctx, previewName); !paved.IsNotFound(err) {
		t.Fatalf("the preview of a successful run is not destroyed: %v", err)
	}
	if pids := processesWithEnv("PAVED_APP", previewName+"/web"); len(pids) > 0 {
		t.Fatalf("processes of the destroyed preview: %v", pids)
	}
	if resp, _, err := c.get(httpClient(), previewName+".web.example.test", "/"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("the destroyed preview's route still answers: %v %v", resp, err)
	}
	v := c.appShow("prod", "web")
	snaps, err := c.client.Snapshots.List(ctx, "prod")
	if err != nil || len(snaps) == 0 || snaps[0].Releases["web"] != v.Release || v.LastGoodRelease != v.Release {
		t.Fatalf("prod after the run: release %d, last good %d, snapshots %+v %v", v.Release, v.LastGoodRelease, snaps, err)
	}
	_, body, _ := c.get(httpClient(), "web.example.test", "/")
	if !strings.HasPrefix(body, "hello v2") {
		t.Fatalf("prod answers %q", body)
	}

	// A commit whose check fails: production stays, the preview stays until its TTL.
	before := v.Release
	bad := repo.commit("buggy", "BUG", "1")
	webhook(t, c, p, "repo")
	b = c.buildOfIn(t, "prod", "flow", "ship", bad, 2*time.Minute)
	if b.Status != paved.BuildFailed || !strings.Contains(b.Reason, "no-known-bug") {
		t.Fatalf("ship of a buggy commit: %s %q", b.Status, b.Reason)
	}
	if v := c.appShow("prod", "web"); v.Release != before || v.LastGoodRelease != before {
		t.Fatalf("prod moved after a failed check: release %d", v.Release)
	}
	previewName = fmt.Sprintf("preview-%d", b.ID)
	if _, err := c.client.Environments.Get(ctx, previewName); err != nil {
		t.Fatalf("the preview of a failed run was not kept: %v", err)
	}
	log, _ := c.client.Pipelines.BuildLog(ctx, b.ID)
	if !strings.Contains(log, previewName+".web.example.test") || !strings.Contains(log, "kept until its TTL") {
		t.Fatalf("the build log does not show the kept preview's URL:\n%s", log)
	}
	eventually(t, 60*time.Second, "the TTL removes the failed run's preview", func() error {
		if _, err := c.client.Environments.Get(ctx, previewName); !paved.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		if pids := processesWithEnv("PAVED_APP", previewName+"/web"); len(pids) > 0 {
			return fmt.Errorf("processes left: %v", pids)
		}
		return nil
	})
}

// TestPipelineDeleteCleansUp: deleting a pipeline while a build holds a
// preview environment answers only once the build has stopped and the
// environment, its apps and their processes are gone, so that a destroy
// that returns has left nothing running.
func TestPipelineDeleteCleansUp(t *testing.T) {
	c := startCell(t)
	repo := newGitRepo(t)
	c.pushHello("stage", "web", "web.stage.test", 1)
	updateApp(t, c, "stage", "web", fastHealth)
	ctx := context.Background()
	c.setPipelineIn(t, "stage", fmt.Sprintf(`name: slow
sources:
  - {name: repo, type: git, uri: %s, check_every: 1s}
jobs:
  - name: check
    plan:
      - {get: repo, trigger: true}
      - {environment: preview, from_space: stage, app: web, source: repo, ttl: 1h}
      - {task: soak, run: "sleep 300"}
`, repo.dir))

	var preview string
	eventually(t, 2*time.Minute, "a build soaking with its preview up", func() error {
		bs, err := c.client.Pipelines.Builds(ctx, "stage", "slow", "check")
		if err != nil {
			return err
		}
		if len(bs) == 0 || bs[0].FinishedAt != nil {
			return fmt.Errorf("no running build (%d builds)", len(bs))
		}
		preview = fmt.Sprintf("preview-%d", bs[0].ID)
		if pids := processesWithEnv("PAVED_APP", preview+"/web"); len(pids) == 0 {
			return fmt.Errorf("%s runs no instance yet", preview)
		}
		log, _ := c.client.Pipelines.BuildLog(ctx, bs[0].ID)
		if !strings.Contains(log, "soak") {
			return fmt.Errorf("the build has not reached its task yet")
		}
		return nil
	})

	if err := c.client.Pipelines.Delete(ctx, "stage", "slow"); err != nil {
		t.Fatal(err)
	}
	// No waiting here: the DELETE has answered, so everything must be gone.
	if _, err := c.client.Environments.Get(ctx, preview); !paved.IsNotFound(err) {
		t.Errorf("the preview of the cut-short build outlived the pipeline's DELETE: %v", err)
	}
	if pids := processesWithEnv("PAVED_APP", preview+"/web"); len(pids) > 0 {
		t.Errorf("processes of the preview outlived the pipeline's DELETE: %v", pids)
	}
	if pids := processesWithEnv("PAVED_PIPELINE", "slow"); len(pids) > 0 {
		t.Errorf("task processes outlived the pipeline's DELETE: %v", pids)
	}
}
