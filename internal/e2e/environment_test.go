package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestPreviewEnvironment clones a space at its last good releases, serves
// it on prefixed routes, and destroys everything of it on delete and at TTL.
func TestPreviewEnvironment(t *testing.T) {
	c := startCell(t)
	c.pushHello("prod", "web", "web.example.test", 2)
	c.pushHello("prod", "api", "api.example.test", 1, "--env", "GREETING=hello api")
	// A later failing change: the environment takes the last GOOD release.
	c.paved("push", helloDir(t), "--space", "prod", "--app", "web", "--build", "exit 3")
	ctx := context.Background()

	env, err := c.client.Environments.Create(ctx, paved.EnvironmentSpec{Name: "pr-1", FromSpace: "prod", TTL: paved.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if env.URLs["web"] != "http://pr-1.web.example.test/" || env.URLs["api"] != "http://pr-1.api.example.test/" {
		t.Fatalf("urls: %v", env.URLs)
	}
	for _, app := range []string{"web", "api"} {
		app := app
		eventually(t, 60*time.Second, app+" runs in the environment", func() error {
			v := c.appShow("pr-1", app)
			if v.Status != paved.AppRunning {
				return fmt.Errorf("%s: %s %s", app, v.Status, v.Message)
			}
			return nil
		})
	}
	_, body, err := c.get(httpClient(), "pr-1.api.example.test", "/")
	if err != nil || !strings.HasPrefix(body, "hello api") {
		t.Fatalf("the environment's api answers %q %v", body, err)
	}
	var pids []int
	for _, app := range []string{"web", "api"} {
		for _, in := range c.appShow("pr-1", app).Instances {
			pids = append(pids, in.PID)
		}
	}
	if err := c.client.Environments.Delete(ctx, "pr-1"); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if processAlive(pid) || groupAlive(pid) {
			t.Fatalf("process %d of the destroyed environment is still running", pid)
		}
	}
	if resp, _, err := c.get(httpClient(), "pr-1.web.example.test", "/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the destroyed environment's route still answers: %v %v", resp, err)
	}
	if _, err := c.client.Spaces.Get(ctx, "pr-1"); !paved.IsNotFound(err) {
		t.Fatalf("the environment's space is left: %v", err)
	}
	// prod is untouched.
	if resp, _, err := c.get(httpClient(), "web.example.test", "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("prod after the environment: %v %v", resp, err)
	}

	// The TTL expiry removes everything too.
	if _, err := c.client.Environments.Create(ctx, paved.EnvironmentSpec{Name: "pr-2", FromSpace: "prod", TTL: paved.Duration(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the expired environment is gone", func() error {
		if _, err := c.client.Environments.Get(ctx, "pr-2"); !paved.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		if pids := processesWithEnv("PAVED_APP", "pr-2/web"); len(pids) > 0 {
			return fmt.Errorf("processes left: %v", pids)
		}
		return nil
	})
	evs, _ := c.client.Events.List(ctx, paved.ListEventsOptions{})
	expired := false
	for _, e := range evs {
		expired = expired || e.Action == "environment.destroy" && e.Object == "environment/pr-2" && strings.Contains(e.Detail, "expired")
	}
	if !expired {
		t.Fatal("no event records the expiry")
	}

	// Bad input, each with its field.
	two := 2
	for _, tc := range []struct {
		spec  paved.EnvironmentSpec
		field string
	}{
		{paved.EnvironmentSpec{Name: "x", FromSpace: "nope", TTL: paved.Duration(time.Hour)}, "from_space"},
		{paved.EnvironmentSpec{Name: "x", FromSpace: "prod", TTL: 0}, "ttl"},
		{paved.EnvironmentSpec{Name: "x", FromSpace: "prod", TTL: paved.Duration(31 * 24 * time.Hour)}, "ttl"},
		{paved.EnvironmentSpec{Name: "x", FromSpace: "prod", TTL: paved.Duration(time.Hour), Overrides: map[string]paved.AppOverride{"ghost": {Instances: &two}}}, "overrides.ghost"},
		{paved.EnvironmentSpec{Name: "Bad_Name", FromSpace: "prod", TTL: paved.Duration(time.Hour)}, "name"},
	} {
		_, err := c.client.Environments.Create(ctx, tc.spec)
		var apiErr *paved.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 422 || apiErr.Field != tc.field {
			t.Errorf("%+v: %v, want a 422 on %s", tc.spec, err, tc.field)
		}
	}
}

// TestRestoreSnapshotUnderLoad brings a space with three apps back to the
// previous snapshot while traffic flows: no request fails.
func TestRestoreSnapshotUnderLoad(t *testing.T) {
	c := startCell(t)
	for _, app := range []string{"a", "b", "c"} {
		c.pushHello("prod", app, app+".example.test", 2)
		updateApp(t, c, "prod", app, fastHealth)
	}
	ctx := context.Background()
	before, err := c.client.Snapshots.List(ctx, "prod")
	if err != nil || len(before) == 0 {
		t.Fatalf("snapshots: %v %v", before, err)
	}
	good := before[0] // every app at its good release
	// A change to every app: each a new good release, each a new snapshot.
	for _, app := range []string{"a", "b", "c"} {
		updateApp(t, c, "prod", app, withEnv("GREETING", "changed "+app))
	}
	loads := map[string]*rateLoad{}
	for _, app := range []string{"a", "b", "c"} {
		loads[app] = startRateLoad(c, app+".example.test", 2, 20*time.Millisecond)
	}
	c.mustPaved("restore", "prod", "--snapshot", fmt.Sprint(good.Number))
	for app, l := range loads {
		l.finish()
		if l.failed.Load() != 0 {
			t.Fatalf("%s: %d requests failed during the restore (first: %v)", app, l.failed.Load(), l.firstErr.Load())
		}
	}
	for _, app := range []string{"a", "b", "c"} {
		_, body, err := c.get(httpClient(), app+".example.test", "/")
		if err != nil || !strings.HasPrefix(body, "hello from paved") {
			t.Fatalf("%s after the restore answers %q %v", app, body, err)
		}
	}
	if _, err := c.paved("restore", "prod", "--snapshot", "999"); err == nil || !strings.Contains(err.Error(), "no snapshot 999") {
		t.Fatalf("paved restore of a missing snapshot: %v", err)
	}
	if _, err := c.client.Snapshots.Restore(ctx, "prod", 999); !paved.IsNotFound(err) {
		t.Fatalf("restore of a missing snapshot: %v", err)
	}
}
