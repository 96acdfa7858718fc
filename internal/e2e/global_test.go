package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestGlobalHostFailsOverBetweenCells runs one app in two cells (regions eu
// and us) behind one global host, with the replica-set records the library's
// fan-out writes. Each router serves the global host with its local
// instance; when eu's instances go away, eu's router sends the requests to
// us, and a request that already hopped is never forwarded again.
func TestGlobalHostFailsOverBetweenCells(t *testing.T) {
	eu := startCell(t, "--region", "eu")
	us := startCell(t, "--region", "us")
	eu.pushHello("shop", "web", "web.eu.test", 1)
	us.pushHello("shop", "web", "web.us.test", 1)
	ctx := context.Background()
	rec := paved.ReplicaSetRecord{Name: "web", Space: "shop", App: "web", GlobalHost: "web.global.test",
		Peers: []paved.Peer{{Region: "eu", Router: eu.router}, {Region: "us", Router: us.router}}}
	for _, c := range []*cell{eu, us} {
		if _, err := c.client.ReplicaSets.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	client := httpClient()
	servedBy := func(c *cell, want string) func() error {
		return func() error {
			res, body, err := c.get(client, "web.global.test", "/")
			if err != nil {
				return err
			}
			if got := res.Header.Get(paved.RegionHeader); res.StatusCode != 200 || got != want {
				return fmt.Errorf("status %d, region %q (want %q): %s", res.StatusCode, got, want, body)
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, "eu serves the global host itself", servedBy(eu, "eu"))
	eventually(t, 10*time.Second, "us serves the global host itself", servedBy(us, "us"))

	// A second replica set cannot take the host.
	other := rec
	other.Name = "thief"
	_, err := eu.client.ReplicaSets.Put(ctx, other)
	var apiErr *paved.APIError
	if !errors.Is(err, paved.ErrConflict) || !errors.As(err, &apiErr) || apiErr.Field != "global_host" {
		t.Fatalf("second replica set on the same host: %v, want a conflict on global_host", err)
	}

	// eu loses its instances: its router forwards to us.
	a, err := eu.client.Apps.Get(ctx, "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	a.Instances = 0
	if _, err := eu.client.Apps.Update(ctx, "shop", a.AppSpec); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "eu forwards the global host to us", servedBy(eu, "us"))

	// A request that came from a peer is served locally or not at all.
	req, _ := http.NewRequest(http.MethodGet, "http://"+eu.router+"/", nil)
	req.Host = "web.global.test"
	req.Header.Set(paved.HopHeader, "us")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("hopped request at a cell without instances: %d, want 502 (never forwarded twice)", res.StatusCode)
	}

	regions := "--regions=eu=http://" + eu.api + ",us=http://" + us.api
	if out := eu.mustPaved("regions", regions); !contains(out, "eu ") || !contains(out, "us ") || contains(out, "down") {
		t.Fatalf("paved regions with both cells up:\n%s", out)
	}

	// The whole us cell dies: eu has nowhere to send the request.
	us.kill9()
	if out := eu.mustPaved("regions", regions); !contains(out, "down") {
		t.Fatalf("paved regions after us died shows no region down:\n%s", out)
	}
	eventually(t, 10*time.Second, "eu answers 502 once no region can serve", func() error {
		res, body, err := eu.get(client, "web.global.test", "/")
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusBadGateway {
			return fmt.Errorf("status %d: %s", res.StatusCode, body)
		}
		return nil
	})

	// Removing the record removes the global host from the router.
	if err := eu.client.ReplicaSets.Delete(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "eu forgets the global host", func() error {
		res, _, err := eu.get(client, "web.global.test", "/")
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusNotFound {
			return fmt.Errorf("status %d, want 404", res.StatusCode)
		}
		return nil
	})
}

// TestAppDataDirSurvivesRestartAndGoesWithTheApp checks the per-app
// persistent directory: created for the instances, kept across a kill -9 of
// the cell, removed when the app is deleted.
func TestAppDataDirSurvivesRestartAndGoesWithTheApp(t *testing.T) {
	c := startCell(t)
	c.pushHello("shop", "web", "web.test", 1)
	dir := filepath.Join(c.data, "volumes", "shop", "web")
	marker := filepath.Join(dir, "kept")
	if err := os.WriteFile(marker, []byte("donations"), 0o644); err != nil {
		t.Fatalf("the app's data dir is missing: %v", err)
	}
	c.kill9()
	c.start()
	eventually(t, 30*time.Second, "the app runs again", func() error {
		a, err := c.client.Apps.Get(context.Background(), "shop", "web")
		if err != nil {
			return err
		}
		if a.RunningCount != 1 {
			return fmt.Errorf("%d running", a.RunningCount)
		}
		return nil
	})
	if b, err := os.ReadFile(marker); err != nil || string(b) != "donations" {
		t.Fatalf("data dir after a restart: %q, %v", b, err)
	}
	if err := c.client.Apps.Delete(context.Background(), "shop", "web"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the data dir goes with the app", func() error {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
}
