package paved_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestJudgeRollout(t *testing.T) {
	changed := time.Date(2026, 12, 4, 10, 0, 0, 500, time.UTC)
	app := func(status, msg string) *paved.App {
		return &paved.App{AppSpec: paved.AppSpec{Name: "web"}, Space: "prod", Status: status, Message: msg,
			Release: 1, Generation: 2, ObservedGeneration: 2, UpdatedAt: changed}
	}
	dep := func(id int64, status, reason string, started time.Time) paved.Deployment {
		return paved.Deployment{ID: id, Release: int(id), Status: status, Reason: reason, StartedAt: started}
	}
	before := changed.Add(-time.Hour)
	sameSecond := changed.Truncate(time.Second) // a store that keeps whole seconds
	for _, tc := range []struct {
		name    string
		app     *paved.App
		deps    []paved.Deployment
		verdict string
		depID   int64 // the deployment attributed to the change; 0 = none
		reason  string
	}{
		{"running", app(paved.AppRunning, ""), nil, paved.RolloutSucceeded, 0, ""},
		{"stopped", app(paved.AppStopped, ""), nil, paved.RolloutSucceeded, 0, ""},
		{"rolled back", app(paved.AppFailed, "release 2 failed and was rolled back: error rate 50%; release 1 is running"),
			[]paved.Deployment{dep(2, paved.DeploymentRolledBack, "error rate 50%", changed.Add(time.Second)), dep(1, paved.DeploymentSucceeded, "", before)},
			paved.RolloutRolledBack, 2, "release 2 failed and was rolled back: error rate 50%; release 1 is running"},
		{"rolled back, started in the second of the change", app(paved.AppFailed, "rolled back"),
			[]paved.Deployment{dep(2, paved.DeploymentRolledBack, "", sameSecond)}, paved.RolloutRolledBack, 2, "rolled back"},
		{"stopped where it was", app(paved.AppFailed, "release 2 failed: auto_rollback is off"),
			[]paved.Deployment{dep(2, paved.DeploymentFailed, "health", changed.Add(time.Second))}, paved.RolloutFailed, 2, "release 2 failed: auto_rollback is off"},
		{"failed build: an older rollback is not this change's", app(paved.AppFailed, "build 3 failed: exit status 3; release 1 is still running"),
			[]paved.Deployment{dep(2, paved.DeploymentRolledBack, "old", before)}, paved.RolloutFailed, 0, "build 3 failed: exit status 3; release 1 is still running"},
		{"crashing after a good rollout", app(paved.AppCrashing, "instance web-1 has crashed 2 times"),
			[]paved.Deployment{dep(2, paved.DeploymentSucceeded, "", changed.Add(time.Second))}, paved.RolloutDegraded, 2, "instance web-1 has crashed 2 times"},
		{"degraded scale-up, no deployment", app(paved.AppDegraded, ""), nil, paved.RolloutDegraded, 0, "status degraded"},
		{"the deployment's reason when the app has none", app(paved.AppCrashing, ""),
			[]paved.Deployment{dep(2, paved.DeploymentFailed, "progress deadline 10m exceeded", changed.Add(time.Second))}, paved.RolloutFailed, 2, "progress deadline 10m exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := paved.JudgeRollout(tc.app, tc.deps)
			if r.Verdict != tc.verdict || r.Reason != tc.reason {
				t.Errorf("verdict %s (%q), want %s (%q)", r.Verdict, r.Reason, tc.verdict, tc.reason)
			}
			got := int64(0)
			if r.Deployment != nil {
				got = r.Deployment.ID
			}
			if got != tc.depID {
				t.Errorf("deployment %d, want %d", got, tc.depID)
			}
			if (r.Err() == nil) != (tc.verdict == paved.RolloutSucceeded) {
				t.Errorf("Err() = %v for verdict %s", r.Err(), r.Verdict)
			}
			if r.RolledOut() != (tc.verdict == paved.RolloutSucceeded || tc.verdict == paved.RolloutDegraded) {
				t.Errorf("RolledOut() = %v for verdict %s", r.RolledOut(), r.Verdict)
			}
		})
	}
}

func TestRolloutErrorMessage(t *testing.T) {
	a := &paved.App{AppSpec: paved.AppSpec{Name: "web"}, Space: "shop", Status: paved.AppCrashing}
	for verdict, want := range map[string]string{
		paved.RolloutFailed:     "rollout of shop/web failed: why",
		paved.RolloutRolledBack: "rollout of shop/web was rolled back: why",
		paved.RolloutDegraded:   "rollout of shop/web left the app crashing: why",
	} {
		err := paved.Rollout{Verdict: verdict, Reason: "why", App: a}.Err()
		var re *paved.RolloutError
		if !errors.As(err, &re) || err.Error() != want {
			t.Errorf("%s: %v, want %q", verdict, err, want)
		}
	}
}

// rolloutCell is a cell whose app answers the statuses of script in turn
// (the last one for ever) and whose deployments are deps.
func rolloutCell(t *testing.T, script []paved.App, deps []paved.Deployment) (*paved.Client, *atomic.Int32) {
	t.Helper()
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/spaces/prod/apps/web":
			i := int(polls.Add(1)) - 1
			a := script[min(i, len(script)-1)]
			a.Space, a.Name = "prod", "web"
			writeJSON(w, http.StatusOK, a)
		case "/v1/spaces/prod/apps/web/deployments":
			if deps == nil {
				writeAPIError(w, http.StatusInternalServerError, "internal", "the store is down", "")
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"deployments": deps})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return newTestClient(t, srv.URL, paved.Config{}), &polls
}

func TestWaitRollout(t *testing.T) {
	ctx := context.Background()
	settled := func(status, msg string) paved.App {
		return paved.App{Status: status, Message: msg, Generation: 1, ObservedGeneration: 1, Release: 1}
	}
	pending := paved.App{Status: paved.AppDeploying, Generation: 2, ObservedGeneration: 1}

	t.Run("degraded within the grace is a success", func(t *testing.T) {
		c, _ := rolloutCell(t, []paved.App{pending, settled(paved.AppDegraded, ""), settled(paved.AppDegraded, ""), settled(paved.AppRunning, "")}, []paved.Deployment{})
		var seen []string
		r, err := paved.WaitRollout(ctx, c, "prod", "web", paved.RolloutOptions{Progress: func(a *paved.App) { seen = append(seen, a.Status) }})
		if err != nil || !r.Succeeded() {
			t.Fatalf("WaitRollout = %+v, %v; want succeeded", r, err)
		}
		if strings.Join(seen, ",") != "deploying,degraded,degraded,running" {
			t.Errorf("progress saw %v, want every poll", seen)
		}
	})

	t.Run("degraded past the grace", func(t *testing.T) {
		c, polls := rolloutCell(t, []paved.App{settled(paved.AppDegraded, "1 of 3 healthy")}, []paved.Deployment{})
		r, err := paved.WaitRollout(ctx, c, "prod", "web", paved.RolloutOptions{DegradedGrace: 30 * time.Millisecond})
		if err != nil || r.Verdict != paved.RolloutDegraded || r.Reason != "1 of 3 healthy" {
			t.Fatalf("WaitRollout = %+v, %v; want degraded with the cell's message", r, err)
		}
		if polls.Load() < 2 {
			t.Errorf("the app was read %d times: the grace did not poll", polls.Load())
		}
	})

	t.Run("no grace", func(t *testing.T) {
		c, polls := rolloutCell(t, []paved.App{settled(paved.AppDegraded, "")}, []paved.Deployment{})
		r, err := paved.WaitRollout(ctx, c, "prod", "web", paved.RolloutOptions{DegradedGrace: -1})
		if err != nil || r.Verdict != paved.RolloutDegraded || polls.Load() != 1 {
			t.Fatalf("WaitRollout = %+v, %v after %d reads; want degraded at once", r, err, polls.Load())
		}
	})

	t.Run("rolled back, from the deployments", func(t *testing.T) {
		c, _ := rolloutCell(t, []paved.App{settled(paved.AppFailed, "release 2 failed and was rolled back")},
			[]paved.Deployment{{ID: 2, Release: 2, Status: paved.DeploymentRolledBack, StartedAt: time.Now()}})
		r, err := paved.WaitRollout(ctx, c, "prod", "web", paved.RolloutOptions{})
		if err != nil || r.Verdict != paved.RolloutRolledBack || r.Deployment == nil || r.Deployment.ID != 2 {
			t.Fatalf("WaitRollout = %+v, %v; want rolled back by deployment 2", r, err)
		}
		if !strings.Contains(r.Err().Error(), "rollout of prod/web was rolled back: release 2 failed") {
			t.Errorf("error %q", r.Err())
		}
	})

	t.Run("deployments unreadable: judged by the app", func(t *testing.T) {
		c, _ := rolloutCell(t, []paved.App{settled(paved.AppFailed, "release 2 failed")}, nil)
		r, err := paved.WaitRollout(ctx, c, "prod", "web", paved.RolloutOptions{})
		if err != nil || r.Verdict != paved.RolloutFailed || r.Reason != "release 2 failed" {
			t.Fatalf("WaitRollout = %+v, %v; want failed with the app's message", r, err)
		}
	})

	t.Run("the context ends first", func(t *testing.T) {
		c, _ := rolloutCell(t, []paved.App{pending}, []paved.Deployment{})
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		r, err := paved.WaitRollout(ctx, c, "prod", "web", paved.RolloutOptions{})
		if !errors.Is(err, context.DeadlineExceeded) || r == nil || r.App.Status != paved.AppDeploying {
			t.Fatalf("WaitRollout = %+v, %v; want the deadline with the app as last seen", r, err)
		}
	})
}
