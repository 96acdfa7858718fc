package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestCellKilledMidRollout kills the cell with SIGKILL at three points of a
// rollout. After a restart the app converges on the new release, nothing
// from before survives, and the last good release is never lost.
func TestCellKilledMidRollout(t *testing.T) {
	points := []struct {
		name     string
		strategy paved.DeploymentSpec
		reached  func(c *cell, dep *paved.Deployment, v appView) error
	}{
		{
			name:     "right after the deployment starts",
			strategy: paved.DeploymentSpec{MaxInFlight: "1", MinHealthyTime: paved.Duration(time.Second)},
			reached:  func(*cell, *paved.Deployment, appView) error { return nil },
		},
		{
			name:     "half-way through a rolling deploy",
			strategy: paved.DeploymentSpec{MaxInFlight: "1", MinHealthyTime: paved.Duration(500 * time.Millisecond)},
			reached: func(_ *cell, _ *paved.Deployment, v appView) error {
				newOnes := 0
				for _, in := range v.InstanceStates {
					if in.Release == v.target && in.Healthy {
						newOnes++
					}
				}
				if newOnes < 2 {
					return fmt.Errorf("%d new instances healthy", newOnes)
				}
				return nil
			},
		},
		{
			name: "while a canary is watched",
			strategy: paved.DeploymentSpec{Strategy: paved.StrategyCanary, MinRequests: 5,
				Steps: []paved.CanaryStep{{Instances: 1, Watch: paved.Duration(2 * time.Second)}}},
			reached: func(_ *cell, dep *paved.Deployment, _ appView) error {
				if dep.Phase != "watching" {
					return fmt.Errorf("phase %s", dep.Phase)
				}
				return nil
			},
		},
	}
	for _, pt := range points {
		t.Run(pt.name, func(t *testing.T) {
			c := startCell(t)
			setupApp(t, c, "web", "web.example.test", 3, pt.strategy)
			ctx := context.Background()
			before := c.appShow("demo", "web").Release
			load := startRateLoad(c, "web.example.test", 2, 20*time.Millisecond)
			defer load.finish()

			a, err := c.client.Apps.Get(ctx, "demo", "web")
			if err != nil {
				t.Fatal(err)
			}
			spec := a.AppSpec
			withEnv("GREETING", "after the crash")(&spec)
			if _, err := c.client.Apps.Update(ctx, "demo", spec); err != nil {
				t.Fatal(err)
			}
			var doomed []string
			eventually(t, 60*time.Second, "the rollout reaches the kill point", func() error {
				a, err := c.client.Apps.Get(ctx, "demo", "web")
				if err != nil || a.ActiveDeployment == 0 {
					return fmt.Errorf("no deployment yet (%v)", err)
				}
				dep, err := c.client.Deployments.Get(ctx, a.ActiveDeployment)
				if err != nil {
					return err
				}
				if err := pt.reached(c, dep, appView{a, dep.Release}); err != nil {
					return err
				}
				doomed = doomed[:0]
				for _, in := range a.InstanceStates {
					doomed = append(doomed, in.ID)
				}
				return nil
			})

			c.kill9()
			c.start()

			for _, id := range doomed {
				if pids := processesWithEnv("PAVED_INSTANCE", id); len(pids) > 0 {
					t.Errorf("instance %s from before the kill still has processes %v", id, pids)
				}
			}
			if v := c.appShow("demo", "web"); v.LastGoodRelease != before {
				t.Fatalf("right after the restart the last good release is %d, want %d", v.LastGoodRelease, before)
			}
			eventually(t, 90*time.Second, "the app converges on the new release", func() error {
				v := c.appShow("demo", "web")
				if v.Release != before+1 || v.Status != paved.AppRunning || v.LastGoodRelease != before+1 || v.Running != 3 || len(v.Instances) != 3 {
					return fmt.Errorf("release %d status %s last good %d, %d/%d healthy (%q)", v.Release, v.Status, v.LastGoodRelease, v.Running, len(v.Instances), v.Message)
				}
				return nil
			})
			assertAllOnRelease(t, c, "demo", "web", before+1, 3)
			rels := releaseStatus(t, c, "demo", "web")
			if rels[before].Status != paved.ReleaseSuperseded || rels[before+1].Status != paved.ReleaseGood {
				t.Fatalf("release statuses after convergence: %s / %s", rels[before].Status, rels[before+1].Status)
			}
			deps, err := c.client.Deployments.List(ctx, "demo", "web")
			if err != nil {
				t.Fatal(err)
			}
			full, err := c.client.Deployments.Get(ctx, deps[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			resumed := false
			for _, e := range full.Events {
				resumed = resumed || e.Action == "deployment.starting" || e.Action == "deployment.rolling_back" ||
					len(e.Detail) > 7 && e.Detail[:7] == "resumed"
			}
			if full.Status != paved.DeploymentSucceeded || !resumed {
				t.Fatalf("deployment %d: %s, events %+v", full.ID, full.Status, full.Events)
			}
		})
	}
}

// appView pairs an app with the release its deployment rolls out.
type appView struct {
	*paved.App
	target int
}

// TestRollbackCommand rolls an app back to its previous good release with
// `paved rollback`, through its strategy, and watches it with `paved rollout status`.
func TestRollbackCommand(t *testing.T) {
	c := startCell(t)
	setupApp(t, c, "web", "web.example.test", 2, paved.DeploymentSpec{MaxInFlight: "1"})
	good := c.appShow("demo", "web").Release
	updateApp(t, c, "demo", "web", withEnv("GREETING", "v3"))

	out := c.mustPaved("rollback", "web", "--space", "demo")
	v := c.appShow("demo", "web")
	if v.Release != good+2 || v.Status != paved.AppRunning {
		t.Fatalf("after rollback: release %d status %s (%s)", v.Release, v.Status, out)
	}
	_, body, err := c.get(httpClient(), "web.example.test", "/")
	if err != nil || body[:len("hello from paved")] != "hello from paved" {
		t.Fatalf("after rollback the app answers %q %v", body, err)
	}
	rels := releaseStatus(t, c, "demo", "web")
	if rels[good+1].Status != paved.ReleaseRolledBack || rels[good+2].Status != paved.ReleaseGood ||
		rels[good+2].Config.Droplet != rels[good].Config.Droplet {
		t.Fatalf("releases: %+v", rels)
	}
	status := c.mustPaved("rollout", "status", "web", "--space", "demo", "--watch")
	if !contains(status, "succeeded") || !contains(status, fmt.Sprintf("release %d", good+2)) {
		t.Fatalf("rollout status:\n%s", status)
	}
	if _, err := c.paved("rollback", "web", "--space", "demo", "--to", "99"); err == nil || !contains(err.Error(), "no release 99") {
		t.Fatalf("rollback to a missing release: %v", err)
	}
}
