// Package deploy makes every app's running instances match its spec. One
// controller goroutine per app reconciles in a loop: keep the current
// release at its instance count, and when the spec changes, build the
// droplet, cut a release and roll it out, keeping the old release serving
// until the new one is healthy. Decisions are computed by pure functions
// (plan.go); side effects go through narrow interfaces (store, stager,
// runtime, health, router) so they can be faked in tests.
//
// The rollout is persisted in the app's state (TargetRelease): a cell killed
// mid-rollout comes back on the release that was serving and resumes.
package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
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
}

// Stager builds droplets.
type Stager interface {
	Stage(ctx context.Context, req stager.Request) (string, error)
	DropletDir(digest string) string
}

// Options configure a Deployer.
type Options struct {
	Store        store.Store
	Stager       Stager
	Runtime      runtime.Runtime
	Router       RouteTable
	Logs         *logbuf.Buffer
	Logger       *slog.Logger
	DrainTimeout time.Duration // wait for in-flight requests before stopping; default 10s
	StopGrace    time.Duration // SIGTERM → SIGKILL; default 10s
	// CrashLoop is how many crashes of one new instance fail a rollout; default 3.
	CrashLoop int
	// Resync is how often each app is reconciled without being woken; default 1s.
	Resync time.Duration
}

// Deployer runs one controller per app. Create with New, then Start.
type Deployer struct {
	opts    Options
	log     *slog.Logger
	monitor *health.Monitor

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
	configs     map[int]paved.ReleaseConfig // release number → config, immutable so cacheable
}

type instance struct {
	id       string
	app      string
	release  int
	port     int
	healthy  bool
	draining bool
}

// New returns a deployer; it does nothing until Start.
func New(opts Options) *Deployer {
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 10 * time.Second
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
		c = &controller{space: space, name: name, wake: make(chan struct{}, 1), cancel: cancel, configs: map[int]paved.ReleaseConfig{}}
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
	d.setRoutes(c, rec.Spec.Routes)
	st := rec.State
	if st.Release > 0 {
		if err := d.scale(ctx, c, st.Release, rec.Spec.Instances, st.TargetRelease); err != nil {
			d.log.Error("scale", "app", Key(c.space, c.name), "err", err)
		}
	}
	if st.ObservedGeneration < rec.Generation {
		st = d.apply(ctx, c, rec)
		if ctx.Err() != nil {
			return false
		}
	}
	d.settle(ctx, c, rec, st)
	return false
}

// apply acts on a new spec: build, release, roll out. It persists each step.
func (d *Deployer) apply(ctx context.Context, c *controller, rec store.App) store.AppState {
	st, spec, gen := rec.State, rec.Spec, rec.Generation
	key := Key(c.space, c.name)
	st.Failure = ""

	st.Status = paved.AppStaging
	d.save(ctx, c, st, nil)
	droplet, err := d.opts.Stager.Stage(ctx, stager.Request{Actor: "cell", Space: c.space, App: c.name,
		Source: spec.Source, Command: spec.Build, Env: spec.Env})
	if err != nil {
		if ctx.Err() != nil {
			return st
		}
		st.Failure = err.Error()
		if st.Release > 0 {
			st.Failure += fmt.Sprintf("; release %d is still running", st.Release)
		}
		st.ObservedGeneration = gen
		d.note(key, st.Failure)
		d.save(ctx, c, st, &paved.Event{Actor: "cell", Action: "app.fail", Object: "app/" + key, Detail: st.Failure})
		return st
	}
	st.Droplet = droplet
	cfg := releaseConfig(spec, droplet)

	if st.Release > 0 && st.TargetRelease == 0 {
		if cur, err := d.config(ctx, c, st.Release); err == nil && sameConfig(cur, cfg) {
			st.ObservedGeneration = gen // only instances or routes changed
			return st
		}
	}
	rel, err := d.targetRelease(ctx, c, &st, cfg)
	if err != nil {
		d.log.Error("create release", "app", key, "err", err)
		return st
	}
	st.TargetRelease = rel
	st.Status = paved.AppDeploying
	d.save(ctx, c, st, nil)
	d.note(key, fmt.Sprintf("rolling out release %d", rel))

	ok, reason := d.rollout(ctx, c, rel, cfg, spec.Instances)
	if ctx.Err() != nil {
		return st // resume after restart: TargetRelease is persisted
	}
	return d.finishRollout(ctx, c, st, rel, spec.Instances, ok, reason, gen)
}

// targetRelease reuses an unfinished rollout's release when its config still
// matches (the cell restarted mid-rollout) and cuts a new release otherwise.
func (d *Deployer) targetRelease(ctx context.Context, c *controller, st *store.AppState, cfg paved.ReleaseConfig) (int, error) {
	if st.TargetRelease > 0 {
		if t, err := d.config(ctx, c, st.TargetRelease); err == nil && sameConfig(t, cfg) {
			return st.TargetRelease, nil
		}
		d.opts.Store.SetReleaseStatus(ctx, "cell", c.space, c.name, st.TargetRelease, paved.ReleaseSuperseded,
			"a newer change replaced it before its rollout finished")
		d.stopRelease(ctx, c, st.TargetRelease)
		st.TargetRelease = 0
	}
	r, err := d.opts.Store.CreateRelease(ctx, "cell", c.space, c.name, cfg)
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	c.configs[r.Number] = r.Config
	d.mu.Unlock()
	return r.Number, nil
}

func (d *Deployer) finishRollout(ctx context.Context, c *controller, st store.AppState, rel, want int, ok bool, reason string, gen int64) store.AppState {
	key := Key(c.space, c.name)
	prev := st.Release
	st.TargetRelease = 0
	st.ObservedGeneration = gen
	switch {
	case ok:
		st.Release = rel
		if want > 0 {
			d.markGood(ctx, c, &st, rel)
		}
		d.note(key, fmt.Sprintf("release %d is live", rel))
		if prev > 0 && prev != rel {
			d.stopRelease(ctx, c, prev)
		}
	case prev > 0:
		d.opts.Store.SetReleaseStatus(ctx, "cell", c.space, c.name, rel, paved.ReleaseFailed, reason)
		d.stopRelease(ctx, c, rel)
		st.Failure = fmt.Sprintf("release %d failed: %s; release %d is still running", rel, reason, prev)
		d.note(key, st.Failure)
	default:
		// Nothing older to fall back to: keep the new instances restarting
		// so a fix of the environment (a database coming up) can still heal it.
		st.Release = rel
		d.opts.Store.SetReleaseStatus(ctx, "cell", c.space, c.name, rel, paved.ReleaseFailed, reason)
		st.Failure = fmt.Sprintf("release %d failed: %s", rel, reason)
		d.note(key, st.Failure)
	}
	d.save(ctx, c, st, nil)
	return st
}

func (d *Deployer) markGood(ctx context.Context, c *controller, st *store.AppState, rel int) {
	if st.LastGoodRelease == rel {
		return
	}
	if st.LastGoodRelease > 0 {
		d.opts.Store.SetReleaseStatus(ctx, "cell", c.space, c.name, st.LastGoodRelease, paved.ReleaseSuperseded, "")
	}
	d.opts.Store.SetReleaseStatus(ctx, "cell", c.space, c.name, rel, paved.ReleaseGood, "")
	st.LastGoodRelease = rel
}

// rollout starts want instances of rel and waits until all are healthy, one
// crash-loops, or the health check's grace runs out. The old release keeps
// serving meanwhile.
func (d *Deployer) rollout(ctx context.Context, c *controller, rel int, cfg paved.ReleaseConfig, want int) (bool, string) {
	if want == 0 {
		return true, ""
	}
	have := d.live(Key(c.space, c.name))
	ids := []string{}
	for _, in := range have {
		if in.release == rel {
			ids = append(ids, in.id)
		}
	}
	for len(ids) < want {
		id, err := d.startInstance(c, rel, cfg)
		if err != nil {
			return false, fmt.Sprintf("could not start an instance: %v", err)
		}
		ids = append(ids, id)
	}
	grace := cfg.HealthCheck.Grace.D()
	deadline := time.Now().Add(grace)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		healthy := 0
		for _, id := range ids {
			if d.monitor.Healthy(id) {
				healthy++
			}
			if s, ok := d.opts.Runtime.Status(id); ok && s.Crashes >= d.opts.CrashLoop {
				return false, fmt.Sprintf("instance %s crashed %d times (last exit: %s)", id, s.Crashes, s.LastExit)
			}
		}
		if healthy >= want {
			return true, ""
		}
		if time.Now().After(deadline) {
			return false, fmt.Sprintf("only %d of %d instances passed their health check within the %s grace period", healthy, want, grace)
		}
		select {
		case <-ctx.Done():
			return false, "the cell is shutting down"
		case <-tick.C:
		}
	}
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
		if _, err := d.startInstance(c, release, cfg); err != nil {
			return err
		}
	}
	d.stopAll(ctx, p.stop)
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
		d.markGood(ctx, c, &st, st.Release)
	}
	d.save(ctx, c, st, nil)
}

// save writes the state when it changed.
func (d *Deployer) save(ctx context.Context, c *controller, st store.AppState, ev *paved.Event) {
	ctx = context.WithoutCancel(ctx)
	cur, err := d.opts.Store.GetApp(ctx, c.space, c.name)
	if err != nil || (cur.State == st && ev == nil) {
		return
	}
	if err := d.opts.Store.SetAppState(ctx, c.space, c.name, st, ev); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.log.Error("save app state", "app", Key(c.space, c.name), "err", err)
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

// remove stops everything of a deleted app.
func (d *Deployer) remove(ctx context.Context, c *controller) {
	key := Key(c.space, c.name)
	var ids []string
	for _, in := range d.live(key) {
		ids = append(ids, in.id)
	}
	d.stopAll(context.WithoutCancel(ctx), ids)
	d.mu.Lock()
	if d.apps[key] == c {
		delete(d.apps, key)
	}
	d.mu.Unlock()
	c.cancel()
	d.publish()
	if d.opts.Logs != nil {
		d.opts.Logs.Drop(key)
	}
}

func (d *Deployer) stopRelease(ctx context.Context, c *controller, release int) {
	var ids []string
	for _, in := range d.live(Key(c.space, c.name)) {
		if in.release == release {
			ids = append(ids, in.id)
		}
	}
	d.stopAll(ctx, ids)
}

// live lists an app's instances that are not being stopped.
func (d *Deployer) live(key string) []liveInstance {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []liveInstance
	for _, in := range d.insts {
		if in.app != key || in.draining {
			continue
		}
		li := liveInstance{id: in.id, release: in.release, healthy: in.healthy}
		out = append(out, li)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	for i := range out {
		if s, ok := d.opts.Runtime.Status(out[i].id); ok {
			out[i].crashes = s.Crashes
		}
	}
	return out
}

func (d *Deployer) startInstance(c *controller, release int, cfg paved.ReleaseConfig) (string, error) {
	key := Key(c.space, c.name)
	id := fmt.Sprintf("%s-%s-%d-%s", c.space, c.name, release, randHex(3))
	s, err := d.opts.Runtime.Start(runtime.InstanceSpec{
		ID: id, App: key, Release: release,
		Dir:      d.opts.Stager.DropletDir(cfg.Droplet),
		Command:  cfg.Command,
		Env:      cfg.Env,
		MemoryMB: cfg.MemoryMB,
	})
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	d.insts[id] = &instance{id: id, app: key, release: release, port: s.Port}
	d.mu.Unlock()
	d.monitor.Watch(health.Target{
		ID:    id,
		Addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		Check: *cfg.HealthCheck,
		Alive: func() bool {
			s, ok := d.opts.Runtime.Status(id)
			return ok && (s.State == runtime.StateStarting || s.State == runtime.StateRunning)
		},
	})
	return id, nil
}

// stopAll drains and stops instances in parallel.
func (d *Deployer) stopAll(ctx context.Context, ids []string) {
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.stopInstance(ctx, id)
		}()
	}
	wg.Wait()
}

// stopInstance takes the instance out of the router, lets in-flight requests
// finish (up to DrainTimeout), then stops the process.
func (d *Deployer) stopInstance(ctx context.Context, id string) {
	d.mu.Lock()
	in := d.insts[id]
	if in != nil {
		in.draining = true
	}
	d.mu.Unlock()
	if in == nil {
		return
	}
	d.publish()
	deadline := time.Now().Add(d.opts.DrainTimeout)
	for d.opts.Router.Outstanding(id) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	d.monitor.Unwatch(id)
	if err := d.opts.Runtime.Stop(context.WithoutCancel(ctx), id, d.opts.StopGrace); err != nil {
		d.log.Warn("stop instance", "instance", id, "err", err)
	}
	d.mu.Lock()
	delete(d.insts, id)
	d.mu.Unlock()
}

// OnInstanceState is the runtime's state callback: a crashed process leaves
// the router at once, before its health check would notice.
func (d *Deployer) OnInstanceState(s runtime.InstanceStatus) {
	if s.State == runtime.StateCrashed {
		d.monitor.MarkUnhealthy(s.ID)
		d.note(s.App, fmt.Sprintf("instance %s exited (%s); restart %d scheduled", s.ID, s.LastExit, s.Crashes))
	}
	d.wakeApp(s.App)
}

// OnLog is the runtime's log callback.
func (d *Deployer) OnLog(l runtime.LogLine) {
	if d.opts.Logs != nil {
		d.opts.Logs.Add(l.App, paved.LogLine{Time: l.Time, Instance: l.Instance, Stream: l.Stream, Text: l.Text})
	}
}

// note adds a line from the cell itself to an app's log.
func (d *Deployer) note(app, text string) {
	if d.opts.Logs != nil {
		d.opts.Logs.Add(app, paved.LogLine{Time: time.Now().UTC(), Instance: "cell", Stream: "cell", Text: text})
	}
	d.log.Info(text, "app", app)
}

func (d *Deployer) onHealth(id string, healthy bool) {
	d.mu.Lock()
	in := d.insts[id]
	if in != nil {
		in.healthy = healthy
	}
	d.mu.Unlock()
	if in == nil {
		return
	}
	if m, ok := d.opts.Runtime.(runtime.RunningMarker); ok && healthy {
		m.MarkRunning(id, 0)
	}
	d.publish()
	d.wakeApp(in.app)
}

func (d *Deployer) wakeApp(key string) {
	d.mu.Lock()
	c := d.apps[key]
	d.mu.Unlock()
	if c != nil {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (d *Deployer) setRoutes(c *controller, routes []paved.Route) {
	d.mu.Lock()
	changed := !routesEqual(c.routes, routes)
	c.routes = routes
	d.mu.Unlock()
	if changed {
		d.publish()
	}
}

func routesEqual(a, b []paved.Route) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// publish hands the router a fresh table: every route of every app, each
// with that app's healthy instances that are not draining.
func (d *Deployer) publish() {
	d.mu.Lock()
	backends := map[string][]router.Backend{}
	for _, in := range d.insts {
		if in.healthy && !in.draining {
			backends[in.app] = append(backends[in.app], router.Backend{ID: in.id, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(in.port))})
		}
	}
	var table []router.Route
	for key, c := range d.apps {
		bs := backends[key]
		sort.Slice(bs, func(i, j int) bool { return bs[i].ID < bs[j].ID })
		for _, r := range c.routes {
			table = append(table, router.Route{Host: r.Host, Path: r.Path, App: key, Backends: bs})
		}
	}
	d.mu.Unlock()
	d.opts.Router.Update(table)
}

// Instances reports an app's instances for the API.
func (d *Deployer) Instances(space, name string) []paved.InstanceStatus {
	key := Key(space, name)
	d.mu.Lock()
	var ins []instance
	for _, in := range d.insts {
		if in.app == key {
			ins = append(ins, *in)
		}
	}
	d.mu.Unlock()
	out := []paved.InstanceStatus{}
	for _, in := range ins {
		s, _ := d.opts.Runtime.Status(in.id)
		out = append(out, paved.InstanceStatus{
			ID: in.id, Release: in.release, Healthy: in.healthy, Port: in.port,
			State:   instanceState(in, s),
			Crashes: s.Crashes, LastExit: s.LastExit, PID: s.PID, StartedAt: s.StartedAt,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func instanceState(in instance, s runtime.InstanceStatus) string {
	switch {
	case in.draining || s.State == runtime.StateStopping:
		return paved.InstanceStopping
	case s.State == runtime.StateCrashed:
		return paved.InstanceCrashed
	case in.healthy:
		return paved.InstanceRunning
	default:
		return paved.InstanceStarting
	}
}

// Counts reports how many instances exist and how many are healthy.
func (d *Deployer) Counts() (instances, healthy int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, in := range d.insts {
		instances++
		if in.healthy {
			healthy++
		}
	}
	return instances, healthy
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
