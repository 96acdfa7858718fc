package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

var ctx = context.Background()

func openStore(t *testing.T, dir string) *store.SQLite {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) *store.SQLite { return openStore(t, t.TempDir()) }

func mustSpace(t *testing.T, s store.Store, name string) paved.Space {
	t.Helper()
	sp, err := s.CreateSpace(ctx, "tester", paved.SpaceSpec{Name: name})
	if err != nil {
		t.Fatalf("CreateSpace(%s): %v", name, err)
	}
	return sp
}

func appSpec(name string) paved.AppSpec {
	return paved.AppSpec{Name: name, Command: "./server", Instances: 1}
}

func mustApp(t *testing.T, s store.Store, space, name string) store.App {
	t.Helper()
	a, err := s.CreateApp(ctx, "tester", space, appSpec(name))
	if err != nil {
		t.Fatalf("CreateApp(%s/%s): %v", space, name, err)
	}
	return a
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// actions lists the action and object of every event after id after.
func actions(t *testing.T, s store.Store, after int64) []string {
	t.Helper()
	evs, err := s.ListEvents(ctx, after, 0)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Action + " " + e.Object
	}
	return out
}

func lastEventID(t *testing.T, s store.Store) int64 {
	t.Helper()
	evs, err := s.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].ID
}

func TestOpenMigratesAndReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	id := s.CellID()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
		t.Errorf("CellID = %q, want 16 hex digits", id)
	}
	if _, err := s.CreateSpace(ctx, "tester", paved.SpaceSpec{Name: "keep", Labels: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(ctx, "tester", "keep", appSpec("web")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The schema version is recorded, so reopening does not migrate again
	// (a second CREATE TABLE would fail).
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "paved.db"))
	if err != nil {
		t.Fatal(err)
	}
	var userVersion int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&userVersion); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if userVersion < 1 {
		t.Errorf("user_version = %d after migrating", userVersion)
	}

	s2 := openStore(t, dir)
	if s2.CellID() != id {
		t.Errorf("CellID after reopen = %q, want %q", s2.CellID(), id)
	}
	sp, err := s2.GetSpace(ctx, "keep")
	if err != nil {
		t.Fatalf("GetSpace after reopen: %v", err)
	}
	if sp.Labels["a"] != "b" || sp.Version != 1 {
		t.Errorf("space after reopen = %+v", sp)
	}
	if _, err := s2.GetApp(ctx, "keep", "web"); err != nil {
		t.Errorf("GetApp after reopen: %v", err)
	}
	if got := actions(t, s2, 0); len(got) != 2 {
		t.Errorf("events after reopen = %v", got)
	}
	if other := newStore(t); other.CellID() == id {
		t.Errorf("two data dirs share CellID %s", id)
	}
}

func TestSpaceCRUD(t *testing.T) {
	s := newStore(t)
	sp, err := s.CreateSpace(ctx, "alice", paved.SpaceSpec{Name: "prod", Labels: map[string]string{"team": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Name != "prod" || sp.Version != 1 || sp.Labels["team"] != "web" || sp.CreatedAt.IsZero() || sp.UpdatedAt.IsZero() {
		t.Errorf("created space = %+v", sp)
	}
	_, err = s.CreateSpace(ctx, "alice", paved.SpaceSpec{Name: "prod"})
	wantErr(t, "CreateSpace twice", err, store.ErrExists)
	mustSpace(t, s, "dev")

	list, err := s.ListSpaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "dev" || list[1].Name != "prod" {
		t.Errorf("ListSpaces = %+v, want dev, prod", list)
	}
	_, err = s.GetSpace(ctx, "nope")
	wantErr(t, "GetSpace missing", err, store.ErrNotFound)

	up, err := s.UpdateSpace(ctx, "alice", paved.SpaceSpec{Name: "prod", Labels: map[string]string{"tier": "1"}}, 1)
	if err != nil {
		t.Fatalf("UpdateSpace: %v", err)
	}
	if up.Version != 2 || up.Labels["tier"] != "1" || up.Labels["team"] != "" {
		t.Errorf("updated space = %+v, want version 2 with labels replaced", up)
	}
	_, err = s.UpdateSpace(ctx, "alice", paved.SpaceSpec{Name: "prod"}, 1)
	wantErr(t, "UpdateSpace stale", err, store.ErrStale)
	if got, _ := s.GetSpace(ctx, "prod"); got.Version != 2 || got.Labels["tier"] != "1" {
		t.Errorf("a stale update changed the space: %+v", got)
	}
	up, err = s.UpdateSpace(ctx, "alice", paved.SpaceSpec{Name: "prod"}, 0)
	if err != nil || up.Version != 3 {
		t.Errorf("unconditional UpdateSpace = %+v, %v; want version 3", up, err)
	}
	_, err = s.UpdateSpace(ctx, "alice", paved.SpaceSpec{Name: "nope"}, 0)
	wantErr(t, "UpdateSpace missing", err, store.ErrNotFound)
	_, err = s.UpdateSpace(ctx, "alice", paved.SpaceSpec{Name: "nope"}, 4)
	wantErr(t, "UpdateSpace missing with version", err, store.ErrNotFound)

	mustApp(t, s, "prod", "web")
	wantErr(t, "DeleteSpace with apps", s.DeleteSpace(ctx, "alice", "prod", 0), store.ErrNotEmpty)
	if _, err := s.GetSpace(ctx, "prod"); err != nil {
		t.Errorf("space gone after a refused delete: %v", err)
	}
	if err := s.DeleteApp(ctx, "alice", "prod", "web", 0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteSpace stale", s.DeleteSpace(ctx, "alice", "prod", 1), store.ErrStale)
	if err := s.DeleteSpace(ctx, "alice", "prod", 3); err != nil {
		t.Fatalf("DeleteSpace: %v", err)
	}
	_, err = s.GetSpace(ctx, "prod")
	wantErr(t, "GetSpace deleted", err, store.ErrNotFound)
	wantErr(t, "DeleteSpace missing", s.DeleteSpace(ctx, "alice", "prod", 0), store.ErrNotFound)

	// The name is free again.
	if sp, err := s.CreateSpace(ctx, "alice", paved.SpaceSpec{Name: "prod"}); err != nil || sp.Version != 1 {
		t.Errorf("recreate = %+v, %v", sp, err)
	}
}

func TestAppCRUD(t *testing.T) {
	s := newStore(t)
	_, err := s.CreateApp(ctx, "bob", "missing", appSpec("web"))
	wantErr(t, "CreateApp in missing space", err, store.ErrNotFound)
	mustSpace(t, s, "prod")
	mustSpace(t, s, "dev")

	spec := appSpec("web")
	spec.Env = map[string]string{"A": "1"}
	spec.Routes = []paved.Route{{Host: "web.example.com"}}
	a, err := s.CreateApp(ctx, "bob", "prod", spec)
	if err != nil {
		t.Fatal(err)
	}
	if a.Space != "prod" || a.Spec.Name != "web" || a.Version != 1 || a.Generation != 1 ||
		a.State.Status != paved.AppPending || a.Spec.Env["A"] != "1" || len(a.Spec.Routes) != 1 {
		t.Errorf("created app = %+v", a)
	}
	_, err = s.CreateApp(ctx, "bob", "prod", appSpec("web"))
	wantErr(t, "CreateApp twice", err, store.ErrExists)
	if _, err := s.CreateApp(ctx, "bob", "dev", appSpec("web")); err != nil {
		t.Errorf("the same app name in another space: %v", err)
	}
	mustApp(t, s, "dev", "api")

	spec.Instances = 3
	spec.Env = nil
	up, err := s.UpdateApp(ctx, "bob", "prod", spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	if up.Version != 2 || up.Generation != 2 || up.Spec.Instances != 3 || up.Spec.Env != nil {
		t.Errorf("updated app = %+v, want version 2 generation 2 with the new spec", up)
	}
	_, err = s.UpdateApp(ctx, "bob", "prod", appSpec("web"), 1)
	wantErr(t, "UpdateApp stale", err, store.ErrStale)
	if got, _ := s.GetApp(ctx, "prod", "web"); got.Version != 2 || got.Spec.Instances != 3 {
		t.Errorf("a stale update changed the app: %+v", got)
	}
	up, err = s.UpdateApp(ctx, "bob", "prod", spec, 0)
	if err != nil || up.Version != 3 || up.Generation != 3 {
		t.Errorf("unconditional UpdateApp = %+v, %v", up, err)
	}
	_, err = s.UpdateApp(ctx, "bob", "prod", appSpec("nope"), 0)
	wantErr(t, "UpdateApp missing", err, store.ErrNotFound)
	_, err = s.GetApp(ctx, "prod", "nope")
	wantErr(t, "GetApp missing", err, store.ErrNotFound)

	all, err := s.ListApps(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range all {
		names = append(names, a.Space+"/"+a.Spec.Name)
	}
	if fmt.Sprint(names) != "[dev/api dev/web prod/web]" {
		t.Errorf("ListApps(\"\") = %v", names)
	}
	dev, err := s.ListApps(ctx, "dev")
	if err != nil || len(dev) != 2 {
		t.Errorf("ListApps(dev) = %d apps, %v", len(dev), err)
	}

	wantErr(t, "DeleteApp stale", s.DeleteApp(ctx, "bob", "prod", "web", 1), store.ErrStale)
	if err := s.DeleteApp(ctx, "bob", "prod", "web", 3); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	_, err = s.GetApp(ctx, "prod", "web")
	wantErr(t, "GetApp deleted", err, store.ErrNotFound)
	wantErr(t, "DeleteApp missing", s.DeleteApp(ctx, "bob", "prod", "web", 0), store.ErrNotFound)
	if _, err := s.GetApp(ctx, "dev", "web"); err != nil {
		t.Errorf("deleting prod/web touched dev/web: %v", err)
	}
}

func TestSetAppStateKeepsVersion(t *testing.T) {
	s := newStore(t)
	mustSpace(t, s, "prod")
	mustApp(t, s, "prod", "web")
	before := lastEventID(t, s)

	st := store.AppState{Status: paved.AppRunning, Release: 2, LastGoodRelease: 2, Droplet: "d1", ObservedGeneration: 1}
	if err := s.SetAppState(ctx, "prod", "web", st, nil); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetApp(ctx, "prod", "web")
	if err != nil {
		t.Fatal(err)
	}
	if a.State != st {
		t.Errorf("state = %+v, want %+v", a.State, st)
	}
	if a.Version != 1 || a.Generation != 1 {
		t.Errorf("SetAppState bumped version/generation to %d/%d", a.Version, a.Generation)
	}
	if got := actions(t, s, before); len(got) != 0 {
		t.Errorf("SetAppState without an event appended %v", got)
	}

	st.Status = paved.AppCrashing
	ev := &paved.Event{Actor: "cell", Action: "app.crash", Object: "app/prod/web", Detail: "exit 1"}
	if err := s.SetAppState(ctx, "prod", "web", st, ev); err != nil {
		t.Fatal(err)
	}
	if got := actions(t, s, before); fmt.Sprint(got) != "[app.crash app/prod/web]" {
		t.Errorf("events = %v", got)
	}
	// An update after SetAppState still sees version 1.
	if _, err := s.UpdateApp(ctx, "u", "prod", appSpec("web"), 1); err != nil {
		t.Errorf("UpdateApp at version 1 after SetAppState: %v", err)
	}
	err = s.SetAppState(ctx, "prod", "nope", st, ev)
	wantErr(t, "SetAppState missing", err, store.ErrNotFound)
	if n := len(actions(t, s, before)); n != 2 { // app.crash, app.update
		t.Errorf("a failed SetAppState left its event: %v", actions(t, s, before))
	}
}

func TestReleases(t *testing.T) {
	s := newStore(t)
	mustSpace(t, s, "prod")
	mustApp(t, s, "prod", "web")
	mustApp(t, s, "prod", "api")

	for i := 1; i <= 3; i++ {
		cfg := paved.ReleaseConfig{Droplet: fmt.Sprintf("d%d", i), Source: "src", Command: "./run", Env: map[string]string{"N": fmt.Sprint(i)}}
		r, err := s.CreateRelease(ctx, "bob", "prod", "web", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Number != i || r.Status != paved.ReleaseDeploying || r.Actor != "bob" || r.Config.Droplet != cfg.Droplet || r.Config.Env["N"] != fmt.Sprint(i) {
			t.Errorf("release %d = %+v", i, r)
		}
	}
	other, err := s.CreateRelease(ctx, "bob", "prod", "api", paved.ReleaseConfig{Droplet: "x"})
	if err != nil || other.Number != 1 {
		t.Errorf("first release of another app = %+v, %v; want number 1", other, err)
	}

	list, err := s.ListReleases(ctx, "prod", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Number != 3 || list[2].Number != 1 {
		t.Errorf("ListReleases = %+v, want 3,2,1", list)
	}

	if err := s.SetReleaseStatus(ctx, "cell", "prod", "web", 2, paved.ReleaseFailed, "health check failed on /up"); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetRelease(ctx, "prod", "web", 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != paved.ReleaseFailed || r.Reason != "health check failed on /up" {
		t.Errorf("release 2 = %+v", r)
	}
	if r3, _ := s.GetRelease(ctx, "prod", "web", 3); r3.Status != paved.ReleaseDeploying {
		t.Errorf("SetReleaseStatus touched release 3: %+v", r3)
	}
	wantErr(t, "SetReleaseStatus missing", s.SetReleaseStatus(ctx, "cell", "prod", "web", 9, paved.ReleaseGood, ""), store.ErrNotFound)
	_, err = s.GetRelease(ctx, "prod", "web", 9)
	wantErr(t, "GetRelease missing", err, store.ErrNotFound)

	evs, err := s.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Action != "release.failed" || last.Object != "app/prod/web" || !strings.Contains(last.Detail, "health check failed on /up") {
		t.Errorf("last event = %+v", last)
	}

	// Deleting an app takes its history with it: a new app of that name
	// starts again at release 1.
	if err := s.DeleteApp(ctx, "bob", "prod", "web", 0); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListReleases(ctx, "prod", "web"); len(list) != 0 {
		t.Errorf("releases of a deleted app remain: %+v", list)
	}
	mustApp(t, s, "prod", "web")
	if r, err := s.CreateRelease(ctx, "bob", "prod", "web", paved.ReleaseConfig{}); err != nil || r.Number != 1 {
		t.Errorf("first release of a recreated app = %+v, %v", r, err)
	}
}

func TestPutSource(t *testing.T) {
	s := newStore(t)
	const digest = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	_, err := s.GetSource(ctx, digest)
	wantErr(t, "GetSource missing", err, store.ErrNotFound)

	src, created, err := s.PutSource(ctx, "bob", digest, 1234)
	if err != nil || !created {
		t.Fatalf("first PutSource: created=%v err=%v", created, err)
	}
	if src.Digest != digest || src.Size != 1234 || src.CreatedAt.IsZero() {
		t.Errorf("source = %+v", src)
	}
	again, created, err := s.PutSource(ctx, "bob", digest, 1234)
	if err != nil || created {
		t.Errorf("second PutSource: created=%v err=%v", created, err)
	}
	if !again.CreatedAt.Equal(src.CreatedAt) {
		t.Errorf("second PutSource changed created_at: %v -> %v", src.CreatedAt, again.CreatedAt)
	}
	got, err := s.GetSource(ctx, digest)
	if err != nil || got.Size != 1234 {
		t.Errorf("GetSource = %+v, %v", got, err)
	}
	if evs := actions(t, s, 0); fmt.Sprint(evs) != "[source.upload source/"+digest+"]" {
		t.Errorf("events = %v, want one source.upload", evs)
	}
}

func TestBuilds(t *testing.T) {
	s := newStore(t)
	mk := func(app string) paved.Build {
		t.Helper()
		b, err := s.CreateBuild(ctx, "bob", paved.Build{Space: "prod", App: app, Source: "0123456789abcdef0123", Command: "make"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b1 := mk("web")
	if b1.ID == 0 || b1.Status != paved.BuildRunning || b1.StartedAt.IsZero() || b1.FinishedAt != nil || b1.Command != "make" {
		t.Errorf("created build = %+v", b1)
	}
	b2 := mk("web")
	b3 := mk("web")
	other := mk("api")

	fin, err := s.FinishBuild(ctx, b1.ID, paved.BuildSucceeded, "", "droplet1")
	if err != nil {
		t.Fatal(err)
	}
	if fin.Status != paved.BuildSucceeded || fin.Droplet != "droplet1" || fin.FinishedAt == nil {
		t.Errorf("finished build = %+v", fin)
	}
	fin, err = s.FinishBuild(ctx, b2.ID, paved.BuildFailed, "exit status 2", "")
	if err != nil || fin.Error != "exit status 2" || fin.Status != paved.BuildFailed {
		t.Errorf("failed build = %+v, %v", fin, err)
	}
	_, err = s.FinishBuild(ctx, 9999, paved.BuildSucceeded, "", "")
	wantErr(t, "FinishBuild missing", err, store.ErrNotFound)

	list, err := s.ListBuilds(ctx, "prod", "web")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, b := range list {
		ids = append(ids, b.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint([]int64{b3.ID, b2.ID, b1.ID}) {
		t.Errorf("ListBuilds ids = %v, want newest first %v", ids, []int64{b3.ID, b2.ID, b1.ID})
	}
	if _, err := s.GetBuild(ctx, "prod", "web", other.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetBuild of another app's build: %v", err)
	}
	if got, err := s.GetBuild(ctx, "prod", "web", b2.ID); err != nil || got.Error != "exit status 2" {
		t.Errorf("GetBuild = %+v, %v", got, err)
	}

	n, err := s.FailRunningBuilds(ctx, "the cell restarted")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // b3 and other
		t.Errorf("FailRunningBuilds = %d, want 2", n)
	}
	for _, id := range []struct {
		app string
		id  int64
	}{{"web", b3.ID}, {"api", other.ID}} {
		b, err := s.GetBuild(ctx, "prod", id.app, id.id)
		if err != nil || b.Status != paved.BuildFailed || b.Error != "the cell restarted" || b.FinishedAt == nil {
			t.Errorf("interrupted build = %+v, %v", b, err)
		}
	}
	if b, _ := s.GetBuild(ctx, "prod", "web", b1.ID); b.Status != paved.BuildSucceeded {
		t.Errorf("FailRunningBuilds touched a finished build: %+v", b)
	}
	if n, err := s.FailRunningBuilds(ctx, "again"); err != nil || n != 0 {
		t.Errorf("second FailRunningBuilds = %d, %v", n, err)
	}

	evs := actions(t, s, 0)
	want := []string{"build.start app/prod/web", "build.start app/prod/web", "build.start app/prod/web", "build.start app/prod/api",
		"build.succeeded app/prod/web", "build.failed app/prod/web"}
	if len(evs) < len(want) || fmt.Sprint(evs[:len(want)]) != fmt.Sprint(want) {
		t.Errorf("events = %v, want to start with %v", evs, want)
	}
}

func TestFailRunningBuildsAppendsEvents(t *testing.T) {
	s := newStore(t)
	b, err := s.CreateBuild(ctx, "bob", paved.Build{Space: "prod", App: "web", Source: "src", Command: "make"})
	if err != nil {
		t.Fatal(err)
	}
	after := lastEventID(t, s)
	if _, err := s.FailRunningBuilds(ctx, "the cell restarted"); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ListEvents(ctx, after, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Action != "build.failed" || evs[0].Object != "app/prod/web" ||
		!strings.Contains(evs[0].Detail, fmt.Sprint(b.ID)) || !strings.Contains(evs[0].Detail, "the cell restarted") {
		t.Errorf("events after FailRunningBuilds = %+v, want one build.failed for build %d", evs, b.ID)
	}
}

func TestDroplets(t *testing.T) {
	s := newStore(t)
	_, err := s.GetDroplet(ctx, "d1")
	wantErr(t, "GetDroplet missing", err, store.ErrNotFound)
	if err := s.PutDroplet(ctx, store.Droplet{Digest: "d1", Source: "src", Command: "make"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDroplet(ctx, store.Droplet{Digest: "d1", Source: "other", Command: "other"}); err != nil {
		t.Errorf("PutDroplet twice: %v", err)
	}
	d, err := s.GetDroplet(ctx, "d1")
	if err != nil || d.Source != "src" || d.Command != "make" || d.CreatedAt.IsZero() {
		t.Errorf("GetDroplet = %+v, %v (the first record must win)", d, err)
	}
}

func TestEveryWriteAppendsAnEvent(t *testing.T) {
	s := newStore(t)
	steps := []struct {
		want string
		do   func() error
	}{
		{"space.create space/prod", func() error { _, err := s.CreateSpace(ctx, "alice", paved.SpaceSpec{Name: "prod"}); return err }},
		{"space.update space/prod", func() error {
			_, err := s.UpdateSpace(ctx, "alice", paved.SpaceSpec{Name: "prod", Labels: map[string]string{"a": "b"}}, 0)
			return err
		}},
		{"app.create app/prod/web", func() error { _, err := s.CreateApp(ctx, "alice", "prod", appSpec("web")); return err }},
		{"app.update app/prod/web", func() error { _, err := s.UpdateApp(ctx, "alice", "prod", appSpec("web"), 0); return err }},
		{"release.create app/prod/web", func() error {
			_, err := s.CreateRelease(ctx, "cell", "prod", "web", paved.ReleaseConfig{Droplet: "d"})
			return err
		}},
		{"release.good app/prod/web", func() error { return s.SetReleaseStatus(ctx, "cell", "prod", "web", 1, paved.ReleaseGood, "") }},
		{"build.start app/prod/web", func() error {
			_, err := s.CreateBuild(ctx, "alice", paved.Build{Space: "prod", App: "web", Command: "make"})
			return err
		}},
		{"build.failed app/prod/web", func() error {
			bs, err := s.ListBuilds(ctx, "prod", "web")
			if err != nil {
				return err
			}
			_, err = s.FinishBuild(ctx, bs[0].ID, paved.BuildFailed, "exit 1", "")
			return err
		}},
		{"custom.thing cell/x", func() error {
			return s.AppendEvent(ctx, paved.Event{Actor: "cell", Action: "custom.thing", Object: "cell/x"})
		}},
		{"app.delete app/prod/web", func() error { return s.DeleteApp(ctx, "alice", "prod", "web", 0) }},
		{"space.delete space/prod", func() error { return s.DeleteSpace(ctx, "alice", "prod", 0) }},
	}
	var want []string
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.want, err)
		}
		want = append(want, st.want)
		if got := actions(t, s, 0); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after %s events = %v, want %v", st.want, got, want)
		}
	}
	evs, err := s.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.ID <= 0 || e.Time.IsZero() || e.Actor == "" {
			t.Errorf("event %d = %+v", i, e)
		}
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Errorf("event ids not increasing: %d after %d", e.ID, evs[i-1].ID)
		}
	}
	if evs[0].Actor != "alice" || evs[4].Actor != "cell" {
		t.Errorf("actors = %q, %q", evs[0].Actor, evs[4].Actor)
	}

	// Refused writes leave no trace.
	n := len(evs)
	mustSpace(t, s, "dev")
	s.CreateSpace(ctx, "alice", paved.SpaceSpec{Name: "dev"})
	s.UpdateSpace(ctx, "alice", paved.SpaceSpec{Name: "dev"}, 7)
	s.CreateApp(ctx, "alice", "nope", appSpec("web"))
	s.DeleteApp(ctx, "alice", "dev", "nope", 0)
	mustApp(t, s, "dev", "web")
	s.DeleteSpace(ctx, "alice", "dev", 0)
	if got := actions(t, s, evs[n-1].ID); fmt.Sprint(got) != "[space.create space/dev app.create app/dev/web]" {
		t.Errorf("events after refused writes = %v", got)
	}
}

func TestListEventsPaginates(t *testing.T) {
	s := newStore(t)
	for i := 0; i < 10; i++ {
		if err := s.AppendEvent(ctx, paved.Event{Actor: "t", Action: "test.event", Object: fmt.Sprintf("obj/%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListEvents(ctx, 0, 0)
	if err != nil || len(all) != 10 {
		t.Fatalf("ListEvents = %d events, %v", len(all), err)
	}
	var paged []string
	var after int64
	pages := 0
	for {
		page, err := s.ListEvents(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d events with limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		pages++
		for _, e := range page {
			paged = append(paged, e.Object)
		}
		after = page[len(page)-1].ID
	}
	if pages != 4 {
		t.Errorf("%d pages of 3 for 10 events, want 4", pages)
	}
	var want []string
	for _, e := range all {
		want = append(want, e.Object)
	}
	if fmt.Sprint(paged) != fmt.Sprint(want) {
		t.Errorf("paged = %v, want %v", paged, want)
	}
	if tail, _ := s.ListEvents(ctx, all[7].ID, 100); len(tail) != 2 || tail[0].ID != all[8].ID {
		t.Errorf("ListEvents after the 8th = %+v", tail)
	}
	if none, err := s.ListEvents(ctx, all[9].ID, 0); err != nil || none == nil || len(none) != 0 {
		t.Errorf("ListEvents past the end = %#v, %v; want an empty non-nil list", none, err)
	}
}

func TestIdempotencyRecords(t *testing.T) {
	s := newStore(t)
	_, err := s.GetIdempotent(ctx, "k1")
	wantErr(t, "GetIdempotent missing", err, store.ErrNotFound)
	rec := store.Idempotent{Key: "k1", Request: "POST /v1/spaces", Status: 201, Body: []byte(`{"name":"prod"}` + "\n")}
	if err := s.PutIdempotent(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIdempotent(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != rec.Key || got.Request != rec.Request || got.Status != rec.Status || string(got.Body) != string(rec.Body) {
		t.Errorf("GetIdempotent = %+v, want %+v", got, rec)
	}
	// The first answer is the one remembered.
	if err := s.PutIdempotent(ctx, store.Idempotent{Key: "k1", Request: "POST /v1/other", Status: 500, Body: []byte("x")}); err != nil {
		t.Errorf("PutIdempotent twice: %v", err)
	}
	if got, _ := s.GetIdempotent(ctx, "k1"); got.Status != 201 || got.Request != rec.Request {
		t.Errorf("second PutIdempotent overwrote the first: %+v", got)
	}
}

func TestCounts(t *testing.T) {
	s := newStore(t)
	mustSpace(t, s, "a")
	mustSpace(t, s, "b")
	mustApp(t, s, "a", "x")
	mustApp(t, s, "b", "x")
	mustApp(t, s, "b", "y")
	c, err := s.Counts(ctx)
	if err != nil || c.Spaces != 2 || c.Apps != 3 {
		t.Errorf("Counts = %+v, %v; want 2 spaces, 3 apps", c, err)
	}
}

func TestConcurrentUpdateApp(t *testing.T) {
	s := newStore(t)
	mustSpace(t, s, "prod")
	mustApp(t, s, "prod", "web")
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			spec := appSpec("web")
			spec.Instances = i
			if _, err := s.UpdateApp(ctx, fmt.Sprintf("w%d", i), "prod", spec, 0); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent UpdateApp: %v", err)
	}
	a, err := s.GetApp(ctx, "prod", "web")
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != 1+writers || a.Generation != 1+writers {
		t.Errorf("after %d updates version/generation = %d/%d, want %d", writers, a.Version, a.Generation, 1+writers)
	}
	evs, _ := s.ListEvents(ctx, 0, 0)
	updates := 0
	for _, e := range evs {
		if e.Action == "app.update" {
			updates++
		}
	}
	if updates != writers {
		t.Errorf("%d app.update events, want %d", updates, writers)
	}
}

// With an ifVersion guard, exactly one of several racing writers wins.
func TestConcurrentGuardedUpdateApp(t *testing.T) {
	s := newStore(t)
	mustSpace(t, s, "prod")
	mustApp(t, s, "prod", "web")
	const writers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, stale := 0, 0
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateApp(ctx, "w", "prod", appSpec("web"), 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrStale):
				stale++
			default:
				t.Errorf("guarded UpdateApp: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || stale != writers-1 {
		t.Errorf("%d wins and %d stale, want 1 and %d", wins, stale, writers-1)
	}
	if a, _ := s.GetApp(ctx, "prod", "web"); a.Version != 2 {
		t.Errorf("version = %d, want 2", a.Version)
	}
}
