// Package environment runs preview environments: a space cloned from
// another at its apps' last good releases, with a TTL after which a janitor
// destroys everything in it, and space snapshots with restore.
package environment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TTL bounds of an environment: the library's.
const (
	MinTTL = paved.MinEnvironmentTTL
	MaxTTL = paved.MaxEnvironmentTTL
)

// Deployer is what environments need of the deployer.
type Deployer interface {
	Notify(space, name string)
	Instances(space, name string) []paved.InstanceStatus
}

// Manager creates, lists and destroys environments and restores snapshots.
type Manager struct {
	Store    Store
	Deployer Deployer
	Logger   *slog.Logger
	// DropletsDir, when set, is where droplets live; after an environment is
	// destroyed, droplets no release refers to any more are removed.
	DropletsDir string
	// Scheme of the app URLs an environment lists: "https" when the cell's
	// router speaks TLS; default "http".
	Scheme string
}

// dropletGrace keeps young droplets: one may be built for a release that
// is about to be cut.
const dropletGrace = 10 * time.Minute

// Validate checks a spec by the library's rules (paved.EnvironmentSpec.
// Validate, the same the front ends run at plan time), then against the
// store; errors carry the field.
func (m *Manager) Validate(ctx context.Context, spec paved.EnvironmentSpec) *paved.FieldError {
	if errs := spec.Validate(); len(errs) > 0 {
		return &errs[0]
	}
	fail := func(field, format string, args ...any) *paved.FieldError {
		return &paved.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if _, err := m.Store.GetSpace(ctx, spec.FromSpace); errors.Is(err, store.ErrNotFound) {
		return fail("from_space", "space %q does not exist", spec.FromSpace)
	}
	apps, err := m.Store.ListApps(ctx, spec.FromSpace)
	if err != nil {
		return fail("from_space", "cannot read space %q: %v", spec.FromSpace, err)
	}
	names := map[string]bool{}
	for _, a := range apps {
		names[a.Spec.Name] = true
	}
	for _, app := range sortedKeys(spec.Overrides) {
		if !names[app] {
			return fail("overrides."+app, "space %q has no app %q to override", spec.FromSpace, app)
		}
		if src := spec.Overrides[app].Source; src != "" {
			if _, err := m.Store.GetSource(ctx, src); err != nil {
				return fail("overrides."+app+".source", "no source archive %s has been uploaded", src)
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Create clones the source space's apps at their last good releases into a
// new space, routes prefixed with the environment's name.
func (m *Manager) Create(ctx context.Context, actor string, spec paved.EnvironmentSpec) (paved.Environment, error) {
	apps, err := m.Store.ListApps(ctx, spec.FromSpace)
	if err != nil {
		return paved.Environment{}, err
	}
	env, err := m.Store.CreateEnvironment(ctx, actor, store.Environment{Space: spec.Name, FromSpace: spec.FromSpace, TTL: spec.TTL.D(),
		DestroyOnSuccess: spec.DestroyOnSuccess}, map[string]string{"paved.environment/from": spec.FromSpace})
	if err != nil {
		return paved.Environment{}, err
	}
	for _, a := range apps {
		clone, err := m.cloneSpec(ctx, a, spec)
		if err == nil {
			_, err = m.Store.CreateApp(ctx, actor, spec.Name, clone)
		}
		if err != nil {
			// No half-made environment stays behind: the clones made so
			// far and the space go again (a route another app holds,
			// store.ErrRouteTaken, is the likely cause).
			if derr := m.Destroy(context.WithoutCancel(ctx), actor, spec.Name, "cloning app "+a.Spec.Name+" failed: "+err.Error()); derr != nil && m.Logger != nil {
				m.Logger.Warn("destroy half-made environment", "environment", spec.Name, "err", derr)
			}
			return paved.Environment{}, &CloneError{App: a.Spec.Name, Err: err}
		}
		m.Deployer.Notify(spec.Name, clone.Name)
	}
	return m.View(ctx, env)
}

// CloneError is a Create that could not clone one of the source space's
// apps; the environment was destroyed again.
type CloneError struct {
	App string // the app of the source space
	Err error
}

func (e *CloneError) Error() string { return "clone app " + e.App + ": " + e.Err.Error() }

// Unwrap gives the store's error (store.ErrRouteTaken, ...).
func (e *CloneError) Unwrap() error { return e.Err }

// cloneSpec is an app's spec at its last good release, with the
// environment's routes and overrides.
func (m *Manager) cloneSpec(ctx context.Context, a store.App, env paved.EnvironmentSpec) (paved.AppSpec, error) {
	spec := a.Spec
	if good := a.State.LastGoodRelease; good > 0 {
		rel, err := m.Store.GetRelease(ctx, a.Space, spec.Name, good)
		if err != nil {
			return spec, err
		}
		spec = WithRelease(spec, rel.Config)
	}
	routes := make([]paved.Route, 0, len(spec.Routes))
	for _, r := range spec.Routes {
		routes = append(routes, paved.Route{Host: env.Name + "." + r.Host, Path: r.Path})
	}
	spec.Routes = routes
	spec.Env, spec.SecretEnv = maps.Clone(spec.Env), maps.Clone(spec.SecretEnv)
	if o, ok := env.Overrides[spec.Name]; ok {
		if o.Source != "" {
			spec.Source = o.Source
		}
		if o.Instances != nil {
			spec.Instances = *o.Instances
		}
		if len(o.Env) > 0 && spec.Env == nil {
			spec.Env = map[string]string{}
		}
		maps.Copy(spec.Env, o.Env)
	}
	return spec, nil
}

// WithRelease is spec with the settings a release froze: what rolling back
// to that release declares.
func WithRelease(spec paved.AppSpec, cfg paved.ReleaseConfig) paved.AppSpec {
	spec.Source, spec.Build, spec.Command, spec.Env, spec.SecretEnv, spec.MemoryMB, spec.HealthCheck =
		cfg.Source, cfg.Build, cfg.Command, cfg.Env, cfg.SecretEnv, cfg.MemoryMB, cfg.HealthCheck
	return spec
}

// View renders an environment with the URL of each app.
func (m *Manager) View(ctx context.Context, e store.Environment) (paved.Environment, error) {
	out := paved.Environment{EnvironmentSpec: paved.EnvironmentSpec{Name: e.Space, FromSpace: e.FromSpace, TTL: paved.Duration(e.TTL),
		DestroyOnSuccess: e.DestroyOnSuccess}, ExpiresAt: e.ExpiresAt, CreatedAt: e.CreatedAt, URLs: map[string]string{}}
	apps, err := m.Store.ListApps(ctx, e.Space)
	if err != nil {
		return out, err
	}
	for _, a := range apps {
		if len(a.Spec.Routes) > 0 {
			r := a.Spec.Routes[0]
			path := r.Path
			if path == "" {
				path = "/" // the same form as paved_app's urls
			}
			scheme := m.Scheme
			if scheme == "" {
				scheme = "http"
			}
			out.URLs[a.Spec.Name] = scheme + "://" + r.Host + path
		}
	}
	return out, nil
}

// Destroy deletes everything of an environment: apps (their processes and
// routes stop before it returns), then the space.
func (m *Manager) Destroy(ctx context.Context, actor, name, why string) error {
	if _, err := m.Store.GetEnvironment(ctx, name); err != nil {
		return err
	}
	apps, err := m.Store.ListApps(ctx, name)
	if err != nil {
		return err
	}
	for _, a := range apps {
		if err := m.Store.DeleteApp(ctx, actor, name, a.Spec.Name, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		m.Deployer.Notify(name, a.Spec.Name)
	}
	deadline := time.Now().Add(time.Minute)
	for _, a := range apps {
		for len(m.Deployer.Instances(name, a.Spec.Name)) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := m.Store.DeleteSpace(ctx, actor, name, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	removed := m.collectDroplets(ctx)
	if removed > 0 {
		why += fmt.Sprintf("; %d droplets no longer referenced removed", removed)
	}
	m.appendEvent(ctx, paved.Event{Actor: actor, Action: "environment.destroy", Object: "environment/" + name, Detail: why})
	return nil
}

// appendEvent records an event the operation's outcome does not depend on;
// a failure is logged.
func (m *Manager) appendEvent(ctx context.Context, e paved.Event) {
	if err := m.Store.AppendEvent(ctx, e); err != nil && m.Logger != nil {
		m.Logger.Error("append event", "action", e.Action, "err", err)
	}
}

// collectDroplets removes droplets no release of any app refers to (and
// older than dropletGrace); it returns how many went.
func (m *Manager) collectDroplets(ctx context.Context) int {
	if m.DropletsDir == "" {
		return 0
	}
	apps, err := m.Store.ListApps(ctx, "")
	if err != nil {
		return 0
	}
	used := map[string]bool{}
	for _, a := range apps {
		rels, err := m.Store.ListReleases(ctx, a.Space, a.Spec.Name)
		if err != nil {
			return 0 // never remove on a partial view
		}
		for _, r := range rels {
			used[r.Config.Droplet] = true
		}
	}
	entries, err := os.ReadDir(m.DropletsDir)
	if err != nil {
		return 0
	}
	removed := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() || used[e.Name()] || time.Since(info.ModTime()) < dropletGrace {
			continue
		}
		if os.RemoveAll(filepath.Join(m.DropletsDir, e.Name())) == nil {
			removed++
		}
	}
	return removed
}

// Janitor destroys expired environments until ctx ends.
func (m *Manager) Janitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		envs, err := m.Store.ListEnvironments(ctx)
		if err != nil {
			continue
		}
		for _, e := range envs {
			if time.Now().After(e.ExpiresAt) {
				if err := m.Destroy(ctx, "janitor", e.Space, "its ttl of "+e.TTL.String()+" expired"); err != nil && ctx.Err() == nil && m.Logger != nil {
					m.Logger.Warn("destroy expired environment", "environment", e.Space, "err", err)
				}
			}
		}
	}
}

// Snapshot records the last good release of every app of a space.
func (m *Manager) Snapshot(ctx context.Context, space, reason string) (paved.Snapshot, error) {
	apps, err := m.Store.ListApps(ctx, space)
	if err != nil {
		return paved.Snapshot{}, err
	}
	rels := map[string]int{}
	for _, a := range apps {
		if a.State.LastGoodRelease > 0 {
			rels[a.Spec.Name] = a.State.LastGoodRelease
		}
	}
	return m.Store.CreateSnapshot(ctx, space, rels, reason)
}

// Restore sets every app of a space back to a snapshot's releases (0 = the
// snapshot before the newest); each app rolls out with its own strategy.
func (m *Manager) Restore(ctx context.Context, actor, space string, number int) (paved.Snapshot, error) {
	snaps, err := m.Store.ListSnapshots(ctx, space)
	if err != nil {
		return paved.Snapshot{}, err
	}
	var target *paved.Snapshot
	for i := range snaps {
		if number == 0 && i == 1 || number != 0 && snaps[i].Number == number {
			target = &snaps[i]
			break
		}
	}
	if target == nil {
		return paved.Snapshot{}, store.ErrNotFound
	}
	for _, app := range sortedKeys(target.Releases) {
		a, err := m.Store.GetApp(ctx, space, app)
		if err != nil {
			continue // the app is gone since
		}
		rel, err := m.Store.GetRelease(ctx, space, app, target.Releases[app])
		if err != nil {
			return *target, err
		}
		if a.State.Release == rel.Number {
			continue
		}
		if cur, err := m.Store.GetRelease(ctx, space, app, a.State.Release); err == nil && sameSettings(cur.Config, rel.Config) {
			continue
		}
		if _, err := m.Store.UpdateApp(ctx, actor, space, WithRelease(a.Spec, rel.Config), 0); err != nil {
			return *target, err
		}
		m.Deployer.Notify(space, app)
	}
	m.appendEvent(ctx, paved.Event{Actor: actor, Action: "space.restore", Object: "space/" + space,
		Detail: fmt.Sprintf("to snapshot %d", target.Number)})
	return *target, nil
}

func sameSettings(a, b paved.ReleaseConfig) bool {
	return a.Droplet == b.Droplet && a.Command == b.Command && maps.Equal(a.Env, b.Env) && maps.Equal(a.SecretEnv, b.SecretEnv) &&
		a.MemoryMB == b.MemoryMB && fmt.Sprint(a.HealthCheck) == fmt.Sprint(b.HealthCheck)
}
