package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func routed(name string, routes ...paved.Route) paved.AppSpec {
	return paved.AppSpec{Name: name, Command: "./server", Instances: 1, Routes: routes}
}

func expectRouteTaken(t *testing.T, what string, r response, field, message string) {
	t.Helper()
	expect(t, what, r, http.StatusConflict, field)
	if ae := r.apiError(t); ae.Code != paved.CodeRouteTaken || !strings.Contains(ae.Message, message) {
		t.Errorf("%s: error %+v, want code %s and a message with %q", what, ae, paved.CodeRouteTaken, message)
	}
}

// checkRouteClaims asserts the store holds no half-applied app: every
// route of every app is claimed by that app, and every claim is a route
// of its app.
func checkRouteClaims(t *testing.T, st *store.SQLite) []store.App {
	t.Helper()
	apps, err := st.ListApps(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	claims, err := st.ListRouteClaims(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	held := map[[2]string]string{}
	for _, c := range claims {
		held[[2]string{c.Host, c.Path}] = c.Space + "/" + c.App
	}
	want := map[[2]string]string{}
	for _, a := range apps {
		for _, r := range a.Spec.Routes {
			h, p := store.RouteKey(r)
			want[[2]string{h, p}] = a.Space + "/" + a.Spec.Name
		}
	}
	if fmt.Sprint(held) != fmt.Sprint(want) {
		t.Errorf("route claims %v, want those of the apps' specs %v", held, want)
	}
	return apps
}

// TestConcurrentRouteCreates: 50 creates racing through the HTTP handler
// for one route, from apps in different spaces and in the same space (in
// several spellings of the route): exactly one wins, every other answer is
// 409 route_taken on routes[0], and the store holds the winner with its
// claim and nothing of the others.
func TestConcurrentRouteCreates(t *testing.T) {
	e := newEnv(t, nil)
	const spaces, writers = 5, 50
	for i := range spaces {
		e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: fmt.Sprintf("s%d", i)})
	}
	spellings := []string{"/api", "/api/", "/api//"}
	type answer struct {
		app    string
		status int
		err    paved.APIError
	}
	answers := make([]answer, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			space, name := fmt.Sprintf("s%d", i%spaces), fmt.Sprintf("app%d", i)
			body, _ := json.Marshal(routed(name, paved.Route{Host: "race.example.com", Path: spellings[i%len(spellings)]}))
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/spaces/"+space+"/apps", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			<-start
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Errorf("POST %s/%s: %v", space, name, err)
				return
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			a := answer{app: space + "/" + name, status: resp.StatusCode}
			if resp.StatusCode >= 400 {
				var eb paved.ErrorBody
				if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
					t.Errorf("POST %s: status %d body %q", a.app, resp.StatusCode, data)
					return
				}
				a.err = *eb.Error
			}
			answers[i] = a
		}()
	}
	close(start)
	wg.Wait()
	var winners []string
	for _, a := range answers {
		switch {
		case a.status == http.StatusCreated:
			winners = append(winners, a.app)
		case a.status != http.StatusConflict || a.err.Code != paved.CodeRouteTaken || a.err.Field != "routes[0]":
			t.Errorf("%s: status %d error %+v, want 409 %s on routes[0]", a.app, a.status, a.err, paved.CodeRouteTaken)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("winners = %v, want exactly one", winners)
	}
	apps := checkRouteClaims(t, e.store)
	if len(apps) != 1 || apps[0].Space+"/"+apps[0].Spec.Name != winners[0] {
		t.Fatalf("the store holds %d apps, want only the winner %s", len(apps), winners[0])
	}
}

// TestRoutesFreedAndHostsOwned: deleting an app frees its routes, an
// update that drops a route frees it, and a host of one space is refused
// to another space on any path (its app unnamed to a space token).
func TestRoutesFreedAndHostsOwned(t *testing.T) {
	e := newRolesEnv(t, nil)
	for _, sp := range []string{"prod", "dev"} {
		e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: sp})
	}
	shop := paved.Route{Host: "shop.example.com"}
	api := paved.Route{Host: "shop.example.com", Path: "/api"}
	e.mustCreate("/v1/spaces/prod/apps", routed("web", shop, api))

	r := e.request(http.MethodPost, "/v1/spaces/dev/apps", routed("web", paved.Route{Host: "dev.example.com"}, paved.Route{Host: "shop.example.com", Path: "/preview"}))
	expectRouteTaken(t, "host of another space, other path", r, "routes[1]", "host shop.example.com is already used by app prod/web")
	_, devToken := e.createToken("dev-dev", paved.RoleSpaceDeveloper, "dev")
	r = e.request(http.MethodPost, "/v1/spaces/dev/apps", routed("web", paved.Route{Host: "shop.example.com", Path: "/preview"}), bearer(devToken)...)
	expectRouteTaken(t, "host of another space, space token", r, "routes[0]", "another space")
	if ae := r.apiError(t); strings.Contains(ae.Message, "prod") {
		t.Errorf("a space token learns another space's app: %q", ae.Message)
	}
	r = e.request(http.MethodPost, "/v1/spaces/dev/apps", routed("web", api), bearer(devToken)...)
	expectRouteTaken(t, "route of another space, space token", r, "routes[0]", "route shop.example.com/api is already served by an app of another space")

	// An update that drops /api frees it, in the space that owns the host.
	expect(t, "drop /api", e.request(http.MethodPut, "/v1/spaces/prod/apps/web", routed("web", shop)), 200, "")
	e.mustCreate("/v1/spaces/prod/apps", routed("api", api))
	r = e.request(http.MethodPost, "/v1/spaces/prod/apps", routed("web2", shop))
	expectRouteTaken(t, "route of the same space", r, "routes[0]", "route shop.example.com is already served by app prod/web")

	// Deleting the apps that use the host frees it for another space.
	expect(t, "delete prod/web", e.request(http.MethodDelete, "/v1/spaces/prod/apps/web", nil), 204, "")
	r = e.request(http.MethodPost, "/v1/spaces/dev/apps", routed("web", shop))
	expectRouteTaken(t, "host still used by prod/api", r, "routes[0]", "host shop.example.com is already used by app prod/api")
	expect(t, "delete prod/api", e.request(http.MethodDelete, "/v1/spaces/prod/apps/api", nil), 204, "")
	e.mustCreate("/v1/spaces/dev/apps", routed("web", shop, paved.Route{Host: "shop.example.com", Path: "/preview"}))
	checkRouteClaims(t, e.store)
}

// TestEnvironmentCloneRouteTaken: an environment whose clones would serve a
// route another app holds is refused with 409 route_taken, and nothing of
// it is left.
func TestEnvironmentCloneRouteTaken(t *testing.T) {
	e := newRolesEnv(t, nil)
	for _, sp := range []string{"prod", "dev"} {
		e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: sp})
	}
	e.mustCreate("/v1/spaces/prod/apps", routed("a", paved.Route{Host: "a.example.com"}))
	e.mustCreate("/v1/spaces/prod/apps", routed("b", paved.Route{Host: "b.example.com"}))
	e.mustCreate("/v1/spaces/dev/apps", routed("squatter", paved.Route{Host: "pr1.b.example.com", Path: "/"}))

	r := e.request(http.MethodPost, "/v1/environments", map[string]any{"name": "pr1", "from_space": "prod", "ttl": "1h"})
	expectRouteTaken(t, "clone onto a held route", r, "name", "route pr1.b.example.com is already served by app dev/squatter")
	expect(t, "the refused environment", e.request(http.MethodGet, "/v1/environments/pr1", nil), 404, "")
	expect(t, "the refused environment's space", e.request(http.MethodGet, "/v1/spaces/pr1", nil), 404, "")
	checkRouteClaims(t, e.store)

	e.mustCreate("/v1/environments", map[string]any{"name": "pr2", "from_space": "prod", "ttl": "1h"})
	checkRouteClaims(t, e.store)
}
