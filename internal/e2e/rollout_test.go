package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// rateLoad sends requests through the router, each on a NEW connection, at
// a steady pace from several workers, and counts failures.
type rateLoad struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	started    time.Time
	elapsed    time.Duration
	stop       chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	bodies     map[string]int // response prefix → count, to see which release answered
}

func startRateLoad(c *cell, host string, workers int, pause time.Duration) *rateLoad {
	l := &rateLoad{stop: make(chan struct{}), started: time.Now(), bodies: map[string]int{}}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(pause):
				}
				resp, body, err := c.get(client, host, "/")
				if err == nil && resp.StatusCode == 200 {
					l.ok.Add(1)
					l.mu.Lock()
					l.bodies[strings.SplitN(body, " (", 2)[0]]++
					l.mu.Unlock()
					continue
				}
				l.failed.Add(1)
				if err == nil {
					err = fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(body))
				}
				l.firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	return l
}

func (l *rateLoad) finish() {
	close(l.stop)
	l.wg.Wait()
	l.elapsed = time.Since(l.started)
}

func (l *rateLoad) rate() float64 { return float64(l.ok.Load()+l.failed.Load()) / l.elapsed.Seconds() }

// updateApp applies fn to the app's spec and waits for the cell to settle.
func updateApp(t *testing.T, c *cell, space, name string, fn func(*paved.AppSpec)) *paved.App {
	t.Helper()
	ctx := context.Background()
	a, err := c.client.Apps.Get(ctx, space, name)
	if err != nil {
		t.Fatal(err)
	}
	spec := a.AppSpec
	fn(&spec)
	if _, err := c.client.Apps.Update(ctx, space, spec, paved.IfMatch(a.Version)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	final, err := c.client.Apps.Wait(wctx, space, name, nil)
	if err != nil {
		t.Fatalf("waiting for %s/%s: %v", space, name, err)
	}
	return final
}

func withEnv(k, v string) func(*paved.AppSpec) {
	return func(s *paved.AppSpec) {
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env[k] = v
	}
}

func fastHealth(s *paved.AppSpec) {
	s.HealthCheck = &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz",
		Interval: paved.Duration(200 * time.Millisecond), Timeout: paved.Duration(150 * time.Millisecond)}
}

func setStrategy(d paved.DeploymentSpec) func(*paved.AppSpec) {
	return func(s *paved.AppSpec) { s.Deployment = &d }
}

func dur(d time.Duration) *paved.Duration { v := paved.Duration(d); return &v }

func releaseStatus(t *testing.T, c *cell, space, app string) map[int]paved.Release {
	t.Helper()
	rels, err := c.client.Releases.List(context.Background(), space, app)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]paved.Release{}
	for _, r := range rels {
		out[r.Number] = r
	}
	return out
}

func assertAllOnRelease(t *testing.T, c *cell, space, app string, release, count int) {
	t.Helper()
	eventually(t, 10*time.Second, "every instance on the expected release", func() error {
		v := c.appShow(space, app)
		if v.Release != release || len(v.Instances) != count || v.Running != count {
			return fmt.Errorf("release %d, %d instances (%d healthy), want release %d ×%d", v.Release, len(v.Instances), v.Running, release, count)
		}
		for _, in := range v.Instances {
			if in.Release != release {
				return fmt.Errorf("instance %s runs release %d", in.ID, in.Release)
			}
		}
		return nil
	})
}

// setupApp pushes hello with fast health checks and the given strategy.
func setupApp(t *testing.T, c *cell, app, host string, instances int, strategy paved.DeploymentSpec) {
	t.Helper()
	c.pushHello("demo", app, host, instances)
	updateApp(t, c, "demo", app, fastHealth) // a new release, rolled out with the default strategy
	// The strategy alone is no new release: it applies to the next one.
	if a := updateApp(t, c, "demo", app, setStrategy(strategy)); a.Release != 2 || a.Status != paved.AppRunning {
		t.Fatalf("after setting the strategy: release %d status %s", a.Release, a.Status)
	}
}

func TestRollingDeployUnderLoad(t *testing.T) {
	c := startCell(t)
	setupApp(t, c, "web", "web.example.test", 4, paved.DeploymentSpec{Strategy: paved.StrategyRolling, MaxInFlight: "1",
		MinHealthyTime: paved.Duration(300 * time.Millisecond)})
	before := c.appShow("demo", "web").Release

	load := startRateLoad(c, "web.example.test", 8, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	app := updateApp(t, c, "demo", "web", withEnv("GREETING", "hello v2"))
	time.Sleep(500 * time.Millisecond)
	load.finish()

	if app.Status != paved.AppRunning || app.Release != before+1 || app.LastGoodRelease != before+1 {
		t.Fatalf("after the rollout: status %s release %d last good %d (message %q)", app.Status, app.Release, app.LastGoodRelease, app.Message)
	}
	if f := load.failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during the rolling deploy (first: %v)", f, f+load.ok.Load(), load.firstErr.Load())
	}
	if load.rate() < 200 {
		t.Fatalf("the load was only %.0f requests/s; the test needs at least 200", load.rate())
	}
	if load.bodies["hello v2"] == 0 || load.bodies["hello from paved"] == 0 {
		t.Fatalf("the load should have seen both releases answer: %v", load.bodies)
	}
	assertAllOnRelease(t, c, "demo", "web", before+1, 4)
	rels := releaseStatus(t, c, "demo", "web")
	if rels[before+1].Status != paved.ReleaseGood || rels[before].Status != paved.ReleaseSuperseded {
		t.Fatalf("release statuses: new %s, old %s", rels[before+1].Status, rels[before].Status)
	}
	t.Logf("rolling deploy of 4 instances under %.0f req/s (new connection each): %d requests, 0 failed", load.rate(), load.ok.Load())
}

func TestCanaryRollsBackOnErrorRate(t *testing.T) {
	c := startCell(t)
	setupApp(t, c, "web", "web.example.test", 4, paved.DeploymentSpec{Strategy: paved.StrategyCanary,
		Steps: []paved.CanaryStep{{Weight: 25, Watch: paved.Duration(5 * time.Second)}}, MinRequests: 40})
	before := c.appShow("demo", "web").Release

	load := startRateLoad(c, "web.example.test", 8, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	app := updateApp(t, c, "demo", "web", withEnv("FAIL_EVERY", "5"))
	load.finish()

	if app.Release != before || app.Status != paved.AppFailed || !strings.Contains(app.Message, "rolled back") {
		t.Fatalf("after the failed canary: release %d status %s message %q", app.Release, app.Status, app.Message)
	}
	rel := releaseStatus(t, c, "demo", "web")[before+1]
	m := regexp.MustCompile(`error rate was ([0-9.]+)%`).FindStringSubmatch(rel.Reason)
	if rel.Status != paved.ReleaseFailed || m == nil {
		t.Fatalf("canary release: status %s reason %q; want failed with the measured error rate", rel.Status, rel.Reason)
	}
	if rate, _ := strconv.ParseFloat(m[1], 64); rate < 15 || rate > 25 {
		t.Fatalf("measured error rate %.1f%%, want about 20%%", rate)
	}
	assertAllOnRelease(t, c, "demo", "web", before, 4)
	total := load.ok.Load() + load.failed.Load()
	if f := load.failed.Load(); f == 0 || float64(f) > 0.25*float64(total) {
		t.Fatalf("%d of %d requests failed; want some (the canary's 20%% of its 25%% share) and at most the canary's share", f, total)
	}
	// The old release keeps serving: fresh requests all succeed.
	client := &http.Client{Timeout: 5 * time.Second}
	for range 50 {
		resp, body, err := c.get(client, "web.example.test", "/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("after the rollback: %v %q %v", resp, body, err)
		}
	}
	t.Logf("canary rolled back: %s; %d of %d requests failed during the watch", rel.Reason, load.failed.Load(), total)
}

func TestCanaryNeverHealthyRollsBackAfterDeadline(t *testing.T) {
	c := startCell(t)
	setupApp(t, c, "web", "web.example.test", 2, paved.DeploymentSpec{Strategy: paved.StrategyCanary,
		Steps: []paved.CanaryStep{{Instances: 1, Watch: paved.Duration(time.Second)}}, ProgressDeadline: dur(3 * time.Second)})
	before := c.appShow("demo", "web").Release

	load := startRateLoad(c, "web.example.test", 4, 20*time.Millisecond)
	app := updateApp(t, c, "demo", "web", withEnv("UNHEALTHY", "1"))
	load.finish()

	if f := load.failed.Load(); f != 0 {
		t.Fatalf("%d requests failed: an unhealthy canary must never get traffic (first: %v)", f, load.firstErr.Load())
	}
	rel := releaseStatus(t, c, "demo", "web")[before+1]
	if app.Release != before || rel.Status != paved.ReleaseFailed || !strings.Contains(rel.Reason, "progress deadline") {
		t.Fatalf("release %d app status %s; canary release %s: %q", app.Release, app.Status, rel.Status, rel.Reason)
	}
	assertAllOnRelease(t, c, "demo", "web", before, 2)
	deps, err := c.client.Deployments.List(context.Background(), "demo", "web")
	if err != nil || deps[0].Status != paved.DeploymentRolledBack {
		t.Fatalf("deployments: %+v %v", deps, err)
	}
}

func TestBlueGreenUnderLoad(t *testing.T) {
	c := startCell(t)
	setupApp(t, c, "web", "web.example.test", 3, paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: paved.Duration(time.Second)})
	before := c.appShow("demo", "web").Release

	load := startRateLoad(c, "web.example.test", 8, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	app := updateApp(t, c, "demo", "web", withEnv("GREETING", "hello green"))
	time.Sleep(300 * time.Millisecond)
	load.finish()

	if f := load.failed.Load(); f != 0 {
		t.Fatalf("%d requests failed during the blue-green switch (first: %v)", f, load.firstErr.Load())
	}
	if app.Release != before+1 || app.Status != paved.AppRunning {
		t.Fatalf("after blue-green: release %d status %s %q", app.Release, app.Status, app.Message)
	}
	assertAllOnRelease(t, c, "demo", "web", before+1, 3)
	d, err := c.client.Deployments.List(context.Background(), "demo", "web")
	if err != nil {
		t.Fatal(err)
	}
	full, err := c.client.Deployments.Get(context.Background(), d[0].ID)
	if err != nil || full.Status != paved.DeploymentSucceeded {
		t.Fatalf("deployment: %+v %v", full, err)
	}
	switched := false
	for _, e := range full.Events {
		switched = switched || strings.Contains(e.Detail, "switched all traffic")
	}
	if !switched {
		t.Fatalf("no switch event in %+v", full.Events)
	}
}

func TestRolloutBadInput(t *testing.T) {
	c := startCell(t)
	c.mustPaved("space", "create", "demo")
	ctx := context.Background()
	bad := []struct {
		dep   paved.DeploymentSpec
		field string
	}{
		{paved.DeploymentSpec{Strategy: "yolo"}, "deployment.strategy"},
		{paved.DeploymentSpec{MaxInFlight: "150%"}, "deployment.max_in_flight"},
		{paved.DeploymentSpec{MaxInFlight: "0"}, "deployment.max_in_flight"},
		{paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Weight: 120}}}, "deployment.steps[0].weight"},
		{paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 5}}}, "deployment.steps[0].instances"},
		{paved.DeploymentSpec{ProgressDeadline: dur(0)}, "deployment.progress_deadline"},
		{paved.DeploymentSpec{ProgressDeadline: dur(-time.Second)}, "deployment.progress_deadline"},
	}
	for _, tc := range bad {
		d := tc.dep
		_, err := c.client.Apps.Create(ctx, "demo", paved.AppSpec{Name: "x", Command: "true", Instances: 2, Deployment: &d})
		var apiErr *paved.APIError
		if !asAPIError(err, &apiErr) || apiErr.Status != 422 || apiErr.Field != tc.field {
			t.Errorf("%+v: %v, want a 422 on %s", tc.dep, err, tc.field)
		}
	}
}
