package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func routedSpec(name string, routes ...string) paved.AppSpec {
	spec := appSpec(name)
	for _, r := range routes {
		host, path, _ := strings.Cut(r, "/")
		rt := paved.Route{Host: host}
		if path != "" || strings.HasSuffix(r, "/") {
			rt.Path = "/" + path
		}
		spec.Routes = append(spec.Routes, rt)
	}
	return spec
}

// claims renders the routes table as "host+path=space/app" lines.
func claims(t *testing.T, s *store.SQLite) string {
	t.Helper()
	cs, err := s.ListRouteClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Host+c.Path+"="+c.Space+"/"+c.App)
	}
	return strings.Join(out, " ")
}

func wantConflict(t *testing.T, what string, err error, index int, space, app string, host bool) {
	t.Helper()
	var rc *store.RouteConflict
	if !errors.As(err, &rc) || !errors.Is(err, store.ErrRouteTaken) {
		t.Fatalf("%s: err = %v, want a RouteConflict", what, err)
	}
	if rc.Index != index || rc.Space != space || rc.App != app || rc.Host != host {
		t.Fatalf("%s: conflict = %+v, want routes[%d] held by %s/%s (host only %v)", what, rc, index, space, app, host)
	}
}

func TestRouteKey(t *testing.T) {
	for _, c := range []struct{ host, path, wantHost, wantPath string }{
		{"shop.example.com", "", "shop.example.com", ""},
		{"Shop.Example.COM.", "/", "shop.example.com", ""},
		{"shop.example.com:8080", "//", "shop.example.com", ""},
		{"shop.example.com", "/api/", "shop.example.com", "/api"},
		{"shop.example.com", "api//", "shop.example.com", "/api"},
		{"[::1]:80", "/x", "[::1]", "/x"},
	} {
		h, p := store.RouteKey(paved.Route{Host: c.host, Path: c.path})
		if h != c.wantHost || p != c.wantPath {
			t.Errorf("RouteKey(%q, %q) = %q, %q, want %q, %q", c.host, c.path, h, p, c.wantHost, c.wantPath)
		}
	}
}

// TestRouteClaims: routes are claimed by the app write itself, keyed as
// the router keys them; a host belongs to one space; updates and deletes
// free what the app no longer serves; a refused write changes nothing.
func TestRouteClaims(t *testing.T) {
	s := newStore(t)
	mustSpace(t, s, "prod")
	mustSpace(t, s, "dev")
	if _, err := s.CreateApp(ctx, "tester", "prod", routedSpec("a", "shop.example.com")); err != nil {
		t.Fatal(err)
	}
	if got := claims(t, s); got != "shop.example.com=prod/a" {
		t.Fatalf("claims = %s", got)
	}

	// The same route in another spelling, in the same space.
	spec := routedSpec("b", "other.example.com", "Shop.Example.com/")
	before := lastEventID(t, s)
	_, err := s.CreateApp(ctx, "tester", "prod", spec)
	wantConflict(t, "same route, other spelling", err, 1, "prod", "a", false)
	if _, err := s.GetApp(ctx, "prod", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused create left app b: %v", err)
	}
	if got := claims(t, s); got != "shop.example.com=prod/a" {
		t.Fatalf("a refused create left claims: %s", got)
	}
	if got := actions(t, s, before); len(got) != 0 {
		t.Fatalf("a refused create appended %v", got)
	}

	// Another path of the host: fine in the same space ...
	if _, err := s.CreateApp(ctx, "tester", "prod", routedSpec("b", "shop.example.com/api/")); err != nil {
		t.Fatal(err)
	}
	// ... refused in another space, even on a path nobody serves.
	_, err = s.CreateApp(ctx, "tester", "dev", routedSpec("c", "dev.example.com", "shop.example.com/other"))
	wantConflict(t, "host of another space", err, 1, "prod", "a", true)
	if _, err := s.CreateApp(ctx, "tester", "dev", routedSpec("c", "dev.example.com")); err != nil {
		t.Fatal(err)
	}
	if got := claims(t, s); got != "dev.example.com=dev/c shop.example.com=prod/a shop.example.com/api=prod/b" {
		t.Fatalf("claims = %s", got)
	}

	// A refused update keeps the spec and the claims.
	before = lastEventID(t, s)
	_, err = s.UpdateApp(ctx, "tester", "dev", routedSpec("c", "shop.example.com/api"), 0)
	wantConflict(t, "update taking another space's route", err, 0, "prod", "b", false)
	if a, _ := s.GetApp(ctx, "dev", "c"); len(a.Spec.Routes) != 1 || a.Spec.Routes[0].Host != "dev.example.com" || a.Version != 1 {
		t.Fatalf("a refused update changed the app: %+v", a)
	}
	if got := actions(t, s, before); len(got) != 0 {
		t.Fatalf("a refused update appended %v", got)
	}
	// A stale update leaves the claims alone too.
	if _, err := s.UpdateApp(ctx, "tester", "dev", routedSpec("c"), 7); !errors.Is(err, store.ErrStale) {
		t.Fatalf("stale update: %v", err)
	}

	// An update that drops a route frees it; the host stays prod's while b
	// serves a path of it.
	if _, err := s.UpdateApp(ctx, "tester", "prod", routedSpec("a", "a.example.com"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(ctx, "tester", "prod", routedSpec("d", "shop.example.com")); err != nil {
		t.Fatalf("the route a dropped is still held: %v", err)
	}
	_, err = s.UpdateApp(ctx, "tester", "dev", routedSpec("c", "shop.example.com/new"), 0)
	wantConflict(t, "host still used", err, 0, "prod", "d", true)

	// Deleting the apps that use the host frees it for another space.
	if err := s.DeleteApp(ctx, "tester", "prod", "d", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateApp(ctx, "tester", "prod", routedSpec("b"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateApp(ctx, "tester", "dev", routedSpec("c", "dev.example.com", "shop.example.com/new"), 0); err != nil {
		t.Fatalf("host freed by delete and update: %v", err)
	}
	if got := claims(t, s); got != "a.example.com=prod/a dev.example.com=dev/c shop.example.com/new=dev/c" {
		t.Fatalf("claims = %s", got)
	}
	// An update keeping its own routes is no conflict; a spec listing a
	// route twice holds it once.
	if _, err := s.UpdateApp(ctx, "tester", "dev", routedSpec("c", "dev.example.com", "shop.example.com/new", "shop.example.com/new/"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "tester", "dev", "c", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "tester", "prod", "a", 0); err != nil {
		t.Fatal(err)
	}
	if got := claims(t, s); got != "" {
		t.Fatalf("claims after deleting every routed app = %s", got)
	}
	// With no route left, no host is owned: prod may take dev's old host.
	if _, err := s.CreateApp(ctx, "tester", "prod", routedSpec("e", "dev.example.com/x")); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentRouteClaims: of many creates racing for one route (in
// several spaces and in one), exactly one wins; the store then holds that
// app with its claim and nothing of the others.
func TestConcurrentRouteClaims(t *testing.T) {
	s := newStore(t)
	for i := range 5 {
		mustSpace(t, s, fmt.Sprintf("s%d", i))
	}
	const writers = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins []string
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			space, name := fmt.Sprintf("s%d", i%5), fmt.Sprintf("app%d", i)
			_, err := s.CreateApp(ctx, "tester", space, routedSpec(name, "race.example.com/api"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, space+"/"+name)
			case !errors.Is(err, store.ErrRouteTaken):
				t.Errorf("%s/%s: %v", space, name, err)
			}
		}()
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("winners = %v, want exactly one", wins)
	}
	apps, err := s.ListApps(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].Space+"/"+apps[0].Spec.Name != wins[0] {
		t.Fatalf("apps = %+v, want only %s", apps, wins[0])
	}
	if got := claims(t, s); got != "race.example.com/api="+wins[0] {
		t.Fatalf("claims = %s, want only %s's", got, wins[0])
	}
}

// schema8 makes the database of a cell from before migration 0009 in dir:
// the migrations up to 0008 as they are on disk, at user_version 8.
func schema8(t *testing.T, dir string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "paved.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	names, err := filepath.Glob(filepath.Join("migrations", "000[1-8]_*.sql"))
	if err != nil || len(names) != 8 {
		t.Fatalf("migrations 0001-0008: %v %v", names, err)
	}
	for _, name := range names {
		ddl, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(ddl)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := raw.Exec("PRAGMA user_version = 8"); err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestMigrationBackfillsRoutes: a data dir from before migration 0009
// opens with the routes of its apps claimed, oldest app first; what older
// cells let through (one route in two apps, one host in two spaces) is left
// unclaimed with an event, and the database still opens.
func TestMigrationBackfillsRoutes(t *testing.T) {
	dir := t.TempDir()
	raw := schema8(t, dir)
	for _, sp := range []string{"prod", "dev"} {
		if _, err := raw.Exec("INSERT INTO spaces(name, labels, version, created_at, updated_at) VALUES(?, '{}', 1, ?, ?)",
			sp, "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"); err != nil {
			t.Fatal(err)
		}
	}
	// b is on a's route (in another spelling) and d on a path of prod's
	// host: an older cell accepted both.
	for i, a := range []struct{ space, name, routes string }{
		{"prod", "a", `[{"host":"shop.example.com"},{"host":"shop.example.com","path":"/api"}]`},
		{"prod", "b", `[{"host":"b.example.com"},{"host":"SHOP.example.com","path":"/api/"}]`},
		{"dev", "c", `[{"host":"c.example.com"}]`},
		{"dev", "d", `[{"host":"shop.example.com","path":"/dev"},{"host":"d.example.com"}]`},
	} {
		created := fmt.Sprintf("2025-01-0%dT00:00:00Z", i+1)
		spec := `{"name":"` + a.name + `","command":"./server","instances":1,"routes":` + a.routes + `}`
		if _, err := raw.Exec(`INSERT INTO apps(space, name, spec, state, version, generation, created_at, updated_at)
			VALUES(?, ?, ?, '{"status":"pending"}', 1, 1, ?, ?)`, a.space, a.name, spec, created, created); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	s := openStore(t, dir)
	if got, want := claims(t, s), "b.example.com=prod/b c.example.com=dev/c d.example.com=dev/d shop.example.com=prod/a shop.example.com/api=prod/a"; got != want {
		t.Fatalf("claims after the backfill:\n %s\nwant\n %s", got, want)
	}
	evs, err := s.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var unclaimed []string
	for _, e := range evs {
		if e.Action == "route.unclaimed" {
			unclaimed = append(unclaimed, e.Object+": "+e.Detail)
		}
	}
	if len(unclaimed) != 2 || !strings.Contains(unclaimed[0], "app/prod/b: routes[1]: route SHOP.example.com/api/ is already served by app prod/a") ||
		!strings.Contains(unclaimed[1], "app/dev/d: routes[0]: host shop.example.com is already used by app prod/a") {
		t.Fatalf("route.unclaimed events = %q", unclaimed)
	}
	// The claims are the store's from now on: b's next update must drop
	// the route it never held.
	_, err = s.UpdateApp(ctx, "tester", "prod", routedSpec("b", "b.example.com", "shop.example.com/api"), 0)
	wantConflict(t, "update keeping an unclaimed route", err, 1, "prod", "a", false)
	if _, err := s.UpdateApp(ctx, "tester", "prod", routedSpec("b", "b.example.com"), 0); err != nil {
		t.Fatal(err)
	}
}
