// Package deploy makes every app's running instances match its spec. One
// controller goroutine per app reconciles in a loop: keep the current
// release at its instance count, and when the spec changes, build the
// droplet, cut a release and roll it out with the app's strategy (rolling,
// canary, blue-green, recreate), falling back to the last good release by
// itself when the rollout fails.
//
// Decisions are computed by pure functions (planner.go, plan.go); side
// effects go through narrow interfaces (store, stager, runtime, health,
// router). Every rollout is a persisted deployment (store.Deployment): a
// cell killed mid-rollout brings the serving release back and resumes.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/health"
	"github.com/pavedroad/terraform-provider-paved/internal/logbuf"
	"github.com/pavedroad/terraform-provider-paved/internal/router"
	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
	"github.com/pavedroad/terraform-provider-paved/internal/stager"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// RouteTable receives the routing table; the router implements it.
type RouteTable interface {
	Update(routes []router.Route)
	Outstanding(backendID string) int64
	Stats(backendID string) router.BackendStats
}

// Stager builds droplets.
type Stager interface {
	Stage(ctx context.Context, req stager.Request) (string, error)
	DropletDir(digest string) string
}

// Options configure a Deployer.
type Options struct {
	Store        Store
	Stager       Stager
	Runtime      runtime.Runtime
	Router       RouteTable
	Logs         *logbuf.Buffer
	Logger       *slog.Logger
	DrainTimeout time.Duration // default drain when no deployment says otherwise; default 10s
	StopGrace    time.Duration // SIGTERM → SIGKILL; default 10s
	// CrashLoop is how many crashes of one new instance fail a rollout; default 3.
	CrashLoop int
	// Resync is how often each app is reconciled without being woken; default 1s.
	Resync time.Duration
	// ServiceEnv is what the app's service bindings add to a new
	// release's (secret) environment: VCAP_SERVICES. nil adds nothing.
	ServiceEnv func(ctx context.Context, space, app string) (map[string]string, error)
	// Tick is how often a running deployment is re-planned; default 50ms.
	Tick time.Duration
	// OnGood, when set, is told each time a release becomes an app's last
	// good release (the cell snapshots the space).
	OnGood func(space, reason string)
	// Gated, when set, tells whether pipeline jobs gate an app: its releases
	// become good only when Promote is called for them.
	Gated func(space, app string) bool
	// GlobalRoutes, when set, returns the replica sets' global hosts (with
	// their peer cells, without backends); each is published with the
	// healthy instances of its app, if the app runs here. Call Republish
	// when they change.
	GlobalRoutes func() []router.Route
	// Region and Cloud are passed to instances as PAVED_REGION and
	// PAVED_CLOUD.
	Region, Cloud string
	// VolumesDir, when set, holds one persistent directory per app
	// (VolumesDir/space/app), passed to instances as PAVED_DATA_DIR. It
	// survives restarts and releases and is removed with the app.
	VolumesDir string
	// SpaceUID, when set, gives the unprivileged uid (and gid) a space's
	// instances run as on a runtime that isolates them.
	SpaceUID func(ctx context.Context, space string) (int, error)
}

// Deployer runs one controller per app. Create with New, then Start.
type Deployer struct {
	opts    Options
	log     *slog.Logger
	monitor *health.Monitor

	publishMu sync.Mutex // serialises publish (see there)

	mu    sync.Mutex
	apps  map[string]*controller // by app key "space/name"
	insts map[string]*instance   // by instance ID
	ctx   context.Context
	wg    sync.WaitGroup
}

type controller struct {
	space, name string
	wake        chan struct{}
	cancel      context.CancelFunc
	routes      []paved.Route
	weight      int                         // canary traffic weight, percent
	created     time.Time                   // CreatedAt of the app row this controller serves
	promoted    map[int]bool                // releases whose gating jobs all passed
	configs     map[int]paved.ReleaseConfig // release number → config, immutable so cacheable
}

// New returns a deployer; it does nothing until Start.
func New(opts Options) *Deployer {
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.StopGrace == 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.CrashLoop == 0 {
		opts.CrashLoop = 3
	}
	if opts.Resync == 0 {
		opts.Resync = time.Second
	}
	if opts.Tick == 0 {
		opts.Tick = 50 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Deployer{opts: opts, log: opts.Logger, apps: map[string]*controller{}, insts: map[string]*instance{}}
	d.monitor = health.NewMonitor(d.onHealth)
	return d
}

// Key is an app's key in the runtime, the router and the log buffer.
func Key(space, name string) string { return space + "/" + name }

// Start launches a controller for every app in the store.
func (d *Deployer) Start(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	if n, err := d.opts.Store.FailRunningBuilds(ctx, "the cell restarted during the build"); err != nil {
		return err
	} else if n > 0 {
		d.log.Info("marked interrupted builds failed", "count", n)
	}
	apps, err := d.opts.Store.ListApps(ctx, "")
	if err != nil {
		return err
	}
	// Instances the runtime kept while the cell was down (Kubernetes keeps
	// its pods; the process driver has none at this point) are taken over
	// before any controller counts what runs.
	for _, s := range d.opts.Runtime.List() {
		d.adopt(ctx, s)
	}
	for _, a := range apps {
		d.Notify(a.Space, a.Spec.Name)
	}
	return nil
}

// Notify wakes an app's controller (starting one if needed) after its spec
// changed or it was deleted.
func (d *Deployer) Notify(space, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || d.ctx.Err() != nil {
		return
	}
	key := Key(space, name)
	c := d.apps[key]
	if c == nil {
		ctx, cancel := context.WithCancel(d.ctx)
		c = &controller{space: space, name: name, wake: make(chan struct{}, 1), cancel: cancel, configs: map[int]paved.ReleaseConfig{},
			promoted: map[int]bool{}}
		d.apps[key] = c
		d.wg.Add(1)
		go d.run(ctx, c)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Wait blocks until every controller has exited (after the Start context ends).
func (d *Deployer) Wait() { d.wg.Wait() }

func (d *Deployer) run(ctx context.Context, c *controller) {
	defer d.wg.Done()
	t := time.NewTicker(d.opts.Resync)
	defer t.Stop()
	for {
		if done := d.reconcile(ctx, c); done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// reconcile runs one pass for an app; it reports true when the app is gone.
func (d *Deployer) reconcile(ctx context.Context, c *controller) bool {
	rec, err := d.opts.Store.GetApp(ctx, c.space, c.name)
	if errors.Is(err, store.ErrNotFound) {
		d.remove(ctx, c)
		return true
	}
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("read app", "app", Key(c.space, c.name), "err", err)
		}
		return false
	}
	if !c.created.Equal(rec.CreatedAt) {
		if !c.created.IsZero() {
			// The app was deleted and created again: nothing of the old one
			// (cached release configs) may leak into the new one.
			d.mu.Lock()
			c.configs = map[int]paved.ReleaseConfig{}
			d.mu.Unlock()
		}
		c.created = rec.CreatedAt
	}
	d.setRoutes(c, rec.Spec.Routes)
	st := rec.State
	switch {
	case st.Deployment != 0:
		// Only a cell that stopped mid-rollout finds one here: resume it.
		st = d.resume(ctx, c, rec)
	case st.Release > 0:
		if err := d.scale(ctx, c, st.Release, rec.Spec.Instances, st.TargetRelease); err != nil {
			d.log.Error("scale", "app", Key(c.space, c.name), "err", err)
		}
	}
	if ctx.Err() != nil {
		return false
	}
	if rec, err = d.opts.Store.GetApp(ctx, c.space, c.name); err != nil {
		return false
	}
	if rec.State.ObservedGeneration < rec.Generation {
		d.apply(ctx, c, rec)
		if ctx.Err() != nil {
			return false
		}
		if rec, err = d.opts.Store.GetApp(ctx, c.space, c.name); err != nil {
			return false
		}
	}
	d.settle(ctx, c, rec, rec.State)
	return false
}

// apply acts on a new spec: build, cut a release, roll it out.
func (d *Deployer) apply(ctx context.Context, c *controller, rec store.App) {
	st, spec, gen := rec.State, rec.Spec, rec.Generation
	key := Key(c.space, c.name)
	st.Failure = ""
	st.Status = paved.AppStaging
	d.save(ctx, c, st, nil)
	droplet, err := d.opts.Stager.Stage(ctx, stager.Request{Actor: "cell", Space: c.space, App: c.name,
		Source: spec.Source, Command: spec.Build, Env: spec.Env})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		st.Failure = err.Error()
		if st.Release > 0 {
			st.Failure += fmt.Sprintf("; release %d is still running", st.Release)
		}
		st.ObservedGeneration = gen
		d.note(key, st.Failure)
		d.save(ctx, c, st, &paved.Event{Actor: "cell", Action: "app.fail", Object: "app/" + key, Detail: st.Failure})
		return
	}
	st.Droplet = droplet
	cfg := releaseConfig(spec, droplet)
	if d.opts.ServiceEnv != nil {
		extra, err := d.opts.ServiceEnv(ctx, c.space, c.name)
		if err != nil {
			d.log.Error("the app's service bindings", "app", key, "err", err)
			return // the next pass tries again
		}
		for k, v := range extra {
			if cfg.SecretEnv == nil {
				cfg.SecretEnv = map[string]string{}
			}
			cfg.SecretEnv[k] = v
		}
	}
	if st.Release > 0 {
		if cur, err := d.config(ctx, c, st.Release); err == nil && sameConfig(cur, cfg) {
			st.ObservedGeneration = gen // only instances, routes or the strategy changed
			st.TargetRelease = 0
			d.save(ctx, c, st, nil)
			return
		}
	}
	rel, err := d.opts.Store.CreateRelease(ctx, "cell", c.space, c.name, cfg)
	if err != nil {
		d.log.Error("create release", "app", key, "err", err)
		return
	}
	d.mu.Lock()
	c.configs[rel.Number] = rel.Config
	d.mu.Unlock()
	strategy := paved.DeploymentSpec{}
	if spec.Deployment != nil {
		strategy = *spec.Deployment
	}
	dep, err := d.opts.Store.CreateDeployment(ctx, "cell", store.Deployment{
		Deployment: paved.Deployment{Space: c.space, App: c.name, Release: rel.Number, From: st.Release,
			Strategy: strategy, Instances: spec.Instances},
		Generation: gen,
	})
	if err != nil {
		d.log.Error("create deployment", "app", key, "err", err)
		return
	}
	st.TargetRelease, st.Deployment = rel.Number, dep.ID
	st.Status = paved.AppDeploying
	d.save(ctx, c, st, nil)
	d.note(key, fmt.Sprintf("deployment %d: rolling out release %d (%s)", dep.ID, rel.Number, Resolve(&strategy).Kind))
	d.runDeployment(ctx, c, dep, st)
}

// healthy records that rel rolled out healthy. It is the app's last good
// release at once, unless pipeline jobs gate the app: then only once they
// passed it (Promote).
func (d *Deployer) healthy(ctx context.Context, c *controller, st *store.AppState, rel int) {
	st.HealthyRelease = rel
	d.mu.Lock()
	promoted := c.promoted[rel]
	d.mu.Unlock()
	if d.opts.Gated == nil || promoted || !d.opts.Gated(c.space, c.name) {
		d.markGood(ctx, c, st, rel)
	}
}

// Promote is called when every pipeline job gating an app passed a
// release; the app's controller makes it good if it is still the one running.
func (d *Deployer) Promote(space, name string, rel int) {
	d.mu.Lock()
	c := d.apps[Key(space, name)]
	if c != nil {
		c.promoted[rel] = true
	}
	d.mu.Unlock()
	d.wakeApp(Key(space, name))
}

// markGood makes rel the last good release; the one it replaces becomes
// superseded, or rolled_back when rel goes back to an older configuration.
func (d *Deployer) markGood(ctx context.Context, c *controller, st *store.AppState, rel int) {
	if st.LastGoodRelease == rel {
		return
	}
	if prev := st.LastGoodRelease; prev > 0 {
		status := paved.ReleaseSuperseded
		if d.isRollbackTo(ctx, c, rel, prev) {
			status = paved.ReleaseRolledBack
		}
		d.setReleaseStatus(ctx, c, prev, status, "")
	}
	d.setReleaseStatus(ctx, c, rel, paved.ReleaseGood, "")
	st.LastGoodRelease = rel
	if d.opts.OnGood != nil {
		// The snapshot reads every app's last good release: this one must be saved first.
		d.save(ctx, c, *st, nil)
		d.opts.OnGood(c.space, fmt.Sprintf("app %s release %d is good", c.name, rel))
	}
}

// isRollbackTo tells whether release rel runs the configuration of a
// release older than prev, i.e. it rolls prev back.
func (d *Deployer) isRollbackTo(ctx context.Context, c *controller, rel, prev int) bool {
	cfg, err := d.config(ctx, c, rel)
	if err != nil {
		return false
	}
	for n := prev - 1; n >= 1; n-- {
		if old, err := d.config(ctx, c, n); err == nil && sameConfig(old, cfg) {
			return true
		}
	}
	return false
}

// scale keeps exactly want instances of release, stopping leftovers of
// other releases except the one being rolled out.
func (d *Deployer) scale(ctx context.Context, c *controller, release, want, rollingOut int) error {
	cfg, err := d.config(ctx, c, release)
	if err != nil {
		return err
	}
	keep := map[int]bool{}
	if rollingOut > 0 {
		keep[rollingOut] = true
	}
	p := planScale(d.live(Key(c.space, c.name)), release, want, keep)
	for i := 0; i < p.start; i++ {
		if _, err := d.startInstance(c, release, cfg, RoleActive); err != nil {
			return err
		}
	}
	d.stopAll(ctx, p.stop, 0)
	return nil
}

// settle computes the user-facing status and promotes a release that has
// become healthy to good.
func (d *Deployer) settle(ctx context.Context, c *controller, rec store.App, st store.AppState) {
	key := Key(c.space, c.name)
	var mine []liveInstance
	crashing, crashMsg := false, ""
	for _, in := range d.live(key) {
		if in.release != st.Release {
			continue
		}
		mine = append(mine, in)
		if s, ok := d.opts.Runtime.Status(in.id); ok && !in.healthy && (s.State == runtime.StateCrashed || s.Crashes > 0) {
			crashing = true
			crashMsg = fmt.Sprintf("instance %s has crashed %d times (last exit: %s)", in.id, s.Crashes, s.LastExit)
		}
	}
	if st.Release == 0 { // nothing has rolled out yet
		if st.Failure != "" {
			st.Status = paved.AppFailed
		}
		st.Message = st.Failure
		d.save(ctx, c, st, nil)
		return
	}
	st.Status = appStatus(rec.Spec.Instances, mine, crashing)
	st.Message = ""
	switch {
	case st.Failure != "":
		st.Message = st.Failure
		if st.Status == paved.AppRunning {
			st.Status = paved.AppFailed
		}
	case crashing:
		st.Message = crashMsg
	case st.Status == paved.AppRunning:
		d.healthy(ctx, c, &st, st.Release)
	}
	d.save(ctx, c, st, nil)
}

// save writes the state when it changed.
func (d *Deployer) save(ctx context.Context, c *controller, st store.AppState, ev *paved.Event) {
	ctx = context.WithoutCancel(ctx)
	cur, err := d.opts.Store.GetApp(ctx, c.space, c.name)
	// A row created after this controller read the app is another app of
	// the same name: the old app's state must not land on it.
	if err != nil || !cur.CreatedAt.Equal(c.created) || (cur.State == st && ev == nil) {
		return
	}
	if err := d.opts.Store.SetAppState(ctx, c.space, c.name, st, ev); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.log.Error("save app state", "app", Key(c.space, c.name), "err", err)
	}
}

// setReleaseStatus records a release's status for the API and the audit
// trail; a failure is logged, as the deployment does not depend on it (a
// release gone with its deleted app, or the cell stopping, is not one).
func (d *Deployer) setReleaseStatus(ctx context.Context, c *controller, rel int, status, reason string) {
	if err := d.opts.Store.SetReleaseStatus(ctx, "cell", c.space, c.name, rel, status, reason); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
		d.log.Error("set release status", "app", Key(c.space, c.name), "release", rel, "status", status, "err", err)
	}
}

// config returns a release's config, cached because releases are immutable.
func (d *Deployer) config(ctx context.Context, c *controller, number int) (paved.ReleaseConfig, error) {
	d.mu.Lock()
	cfg, ok := c.configs[number]
	d.mu.Unlock()
	if ok {
		return cfg, nil
	}
	r, err := d.opts.Store.GetRelease(ctx, c.space, c.name, number)
	if err != nil {
		return cfg, err
	}
	d.mu.Lock()
	c.configs[number] = r.Config
	d.mu.Unlock()
	return r.Config, nil
}

// remove stops everything of a deleted app. The controller leaves the map
// first, so a Notify for an app created again under the same name starts a
// fresh controller instead of waking this exiting one.
func (d *Deployer) remove(ctx context.Context, c *controller) {
	key := Key(c.space, c.name)
	d.mu.Lock()
	if d.apps[key] == c {
		delete(d.apps, key)
	}
	d.mu.Unlock()
	c.cancel()
	var ids []string
	for _, in := range d.live(key) {
		ids = append(ids, in.id)
	}
	d.stopAll(context.WithoutCancel(ctx), ids, 0)
	d.publish()
	if d.opts.Logs != nil {
		d.opts.Logs.Drop(key)
	}
	if _, err := d.opts.Store.GetApp(context.WithoutCancel(ctx), c.space, c.name); err == nil {
		d.Notify(c.space, c.name) // created again while this one stopped
	} else if dir := d.volume(c.space, c.name); dir != "" && errors.Is(err, store.ErrNotFound) {
		// Deleting an app deletes its data, as every PaaS does; nothing
		// of it may outlive it on the cell.
		if err := os.RemoveAll(dir); err != nil {
			d.log.Error("remove app data dir", "app", Key(c.space, c.name), "err", err)
		}
	}
}
