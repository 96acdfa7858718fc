package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/health"
	"github.com/pavedroad/terraform-provider-paved/internal/router"
	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
	"github.com/pavedroad/terraform-provider-paved/internal/secrets"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// instance is the deployer's record of one instance it started.
type instance struct {
	id           string
	app          string
	release      int
	addr         string // host:port the router and health checks dial
	role         Role
	healthy      bool
	healthySince time.Time
	draining     bool
}

// live lists an app's instances that are not being stopped, by ID.
func (d *Deployer) live(key string) []liveInstance {
	d.mu.Lock()
	var out []liveInstance
	for _, in := range d.insts {
		if in.app == key && !in.draining {
			out = append(out, liveInstance{id: in.id, release: in.release, healthy: in.healthy, role: in.role, healthySince: in.healthySince})
		}
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	for i := range out {
		if s, ok := d.opts.Runtime.Status(out[i].id); ok {
			out[i].crashes, out[i].lastExit = s.Crashes, s.LastExit
		}
	}
	return out
}

// stopping counts an app's instances that are draining or stopping.
func (d *Deployer) stopping(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, in := range d.insts {
		if in.app == key && in.draining {
			n++
		}
	}
	return n
}

// startInstance starts one instance of a release with a routing role; the
// router sends it traffic once its health check passes.
func (d *Deployer) startInstance(c *controller, release int, cfg paved.ReleaseConfig, role Role) (string, error) {
	key := Key(c.space, c.name)
	id := fmt.Sprintf("%s-%s-%d-%s", c.space, c.name, release, randHex(3))
	spec := runtime.InstanceSpec{
		ID: id, App: key, Release: release,
		Dir:      d.opts.Stager.DropletDir(cfg.Droplet),
		Droplet:  cfg.Droplet,
		Health:   health.WithDefaults(cfg.HealthCheck),
		Command:  cfg.Command,
		Env:      d.instanceEnv(c, cfg),
		MemoryMB: cfg.MemoryMB,
		Volume:   d.volume(c.space, c.name),
		Redact:   secrets.NewRedactor(slices.Collect(maps.Values(cfg.SecretEnv))...),
		// Sorted: the list lands in pod templates, which must not change
		// from one start to the next.
		SecretKeys: slices.Sorted(maps.Keys(cfg.SecretEnv)),
	}
	if d.opts.SpaceUID != nil {
		uid, err := d.opts.SpaceUID(context.Background(), c.space)
		if err != nil {
			return "", fmt.Errorf("the uid of space %s: %w", c.space, err)
		}
		spec.UID, spec.GID = uid, uid
	}
	s, err := d.opts.Runtime.Start(spec)
	if err != nil {
		return "", err
	}
	// A driver may name the instance itself (a pod's name on Kubernetes).
	d.track(s, role, spec.Health)
	return s.ID, nil
}

// track records an instance the runtime runs and starts its health checks.
// It reports false if the instance was known already.
func (d *Deployer) track(s runtime.InstanceStatus, role Role, check paved.HealthCheck) bool {
	d.mu.Lock()
	if d.insts[s.ID] != nil {
		d.mu.Unlock()
		return false
	}
	d.insts[s.ID] = &instance{id: s.ID, app: s.App, release: s.Release, addr: s.Addr(), role: role}
	d.mu.Unlock()
	id := s.ID
	readyOnly := false
	if p, ok := d.opts.Runtime.(runtime.ReadinessProber); ok {
		readyOnly = p.ProbesReadiness()
	}
	d.monitor.Watch(health.Target{
		ID:    id,
		Addr:  s.Addr(),
		Check: check,
		Alive: func() bool {
			s, ok := d.opts.Runtime.Status(id)
			return ok && (s.State == runtime.StateRunning || s.State == runtime.StateStarting && !readyOnly)
		},
	})
	return true
}

// adopt takes over an instance this deployer did not start: one a runtime
// kept running while the cell was down (Kubernetes keeps pods), or one it
// made by itself (a replacement for a pod lost with its node). It serves
// as an active instance of its release; the controller's next pass scales
// the app to its spec, stopping what is surplus.
func (d *Deployer) adopt(ctx context.Context, s runtime.InstanceStatus) {
	space, name, ok := strings.Cut(s.App, "/")
	if !ok || s.Release <= 0 {
		return
	}
	check := health.WithDefaults(nil)
	if rel, err := d.opts.Store.GetRelease(ctx, space, name, s.Release); err == nil {
		check = health.WithDefaults(rel.Config.HealthCheck)
	}
	if d.track(s, RoleActive, check) {
		d.log.Info("adopted an instance", "app", s.App, "instance", s.ID, "release", s.Release)
		d.wakeApp(s.App)
	}
}

// forgetGone drops an instance that the runtime reports gone although the
// deployer did not stop it (a pod deleted by someone else, or evicted).
func (d *Deployer) forgetGone(s runtime.InstanceStatus) {
	d.mu.Lock()
	in := d.insts[s.ID]
	gone := in != nil && !in.draining
	if gone {
		delete(d.insts, s.ID)
	}
	d.mu.Unlock()
	if gone {
		d.monitor.Unwatch(s.ID)
		d.note(s.App, fmt.Sprintf("instance %s is gone (%s)", s.ID, orDash(s.LastExit)))
		d.publish()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stopAll drains and stops instances in parallel and waits for them.
func (d *Deployer) stopAll(ctx context.Context, ids []string, drain time.Duration) {
	var wg sync.WaitGroup
	d.beginDrain(ids)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.finishStop(ctx, id, drain)
		}()
	}
	wg.Wait()
}

// stopAsync drains and stops instances in the background; wg tracks them so
// a deployment can wait for its stops before it reports success.
func (d *Deployer) stopAsync(ctx context.Context, ids []string, drain time.Duration, wg *sync.WaitGroup) {
	d.beginDrain(ids)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.finishStop(context.WithoutCancel(ctx), id, drain)
		}()
	}
}

// beginDrain takes instances out of the router in one table update, so no
// new request reaches them.
func (d *Deployer) beginDrain(ids []string) {
	if len(ids) == 0 {
		return
	}
	d.mu.Lock()
	for _, id := range ids {
		if in := d.insts[id]; in != nil {
			in.draining = true
		}
	}
	d.mu.Unlock()
	d.publish()
}

// finishStop lets a draining instance finish its in-flight requests (up to
// drain), then stops its process.
func (d *Deployer) finishStop(ctx context.Context, id string, drain time.Duration) {
	if drain == 0 {
		drain = d.opts.DrainTimeout
	}
	deadline := time.Now().Add(drain)
	for d.opts.Router.Outstanding(id) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	d.monitor.Unwatch(id)
	if err := d.opts.Runtime.Stop(context.WithoutCancel(ctx), id, d.opts.StopGrace); err != nil {
		d.log.Warn("stop instance", "instance", id, "err", err)
	}
	d.mu.Lock()
	delete(d.insts, id)
	d.mu.Unlock()
}

// setRoles changes routing roles and the app's canary weight in one table update.
func (d *Deployer) setRoles(c *controller, roles map[string]Role, weight int) {
	changed := false
	d.mu.Lock()
	for id, r := range roles {
		if in := d.insts[id]; in != nil && in.role != r {
			in.role = r
			changed = true
		}
	}
	if c.weight != weight {
		c.weight = weight
		changed = true
	}
	d.mu.Unlock()
	if changed {
		d.publish()
	}
}

// OnInstanceState is the runtime's state callback: a crashed process leaves
// the router at once, before its health check would notice.
func (d *Deployer) OnInstanceState(s runtime.InstanceStatus) {
	switch s.State {
	case runtime.StateStarting, runtime.StateRunning:
		d.mu.Lock()
		known, ctx := d.insts[s.ID] != nil, d.ctx
		d.mu.Unlock()
		if !known && ctx != nil && s.Adopt {
			d.adopt(ctx, s)
		}
	case runtime.StateStopped:
		d.forgetGone(s)
	}
	if s.State == runtime.StateCrashed {
		d.monitor.MarkUnhealthy(s.ID)
		d.note(s.App, fmt.Sprintf("instance %s exited (%s); restart %d scheduled", s.ID, s.LastExit, s.Crashes))
		// The audit trail says why instances crash (an OOM kill, say), on
		// crashes 1, 2, 4, 8, …: enough to see a crash loop, never a flood.
		if s.Crashes&(s.Crashes-1) == 0 {
			e := paved.Event{Actor: "cell", Action: "instance.crash", Object: "app/" + s.App,
				Detail: fmt.Sprintf("instance %s exited (%s), crash %d", s.ID, s.LastExit, s.Crashes)}
			if err := d.opts.Store.AppendEvent(context.Background(), e); err != nil {
				d.log.Warn("record a crash", "instance", s.ID, "err", err)
			}
		}
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
		in.healthySince = time.Time{}
		if healthy {
			in.healthySince = time.Now()
		}
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

// publish hands the router a fresh table: every route of every app, with
// that app's healthy, non-draining instances, split into the active pool and
// the canary group. Standby instances get no traffic.
func (d *Deployer) publish() {
	// Building and installing a table is one step: otherwise a table built
	// before a drain could be installed after it and route to a stopped
	// instance.
	d.publishMu.Lock()
	defer d.publishMu.Unlock()
	d.mu.Lock()
	type pools struct{ active, canary []router.Backend }
	byApp := map[string]*pools{}
	for _, in := range d.insts {
		if !in.healthy || in.draining || in.role == RoleStandby {
			continue
		}
		p := byApp[in.app]
		if p == nil {
			p = &pools{}
			byApp[in.app] = p
		}
		b := router.Backend{ID: in.id, Addr: in.addr}
		if in.role == RoleCanary {
			p.canary = append(p.canary, b)
		} else {
			p.active = append(p.active, b)
		}
	}
	var table []router.Route
	for key, c := range d.apps {
		p := byApp[key]
		if p == nil {
			p = &pools{}
		}
		sortBackends(p.active)
		sortBackends(p.canary)
		for _, r := range c.routes {
			table = append(table, router.Route{Host: r.Host, Path: r.Path, App: key,
				Backends: p.active, Canary: p.canary, CanaryWeight: c.weight})
		}
	}
	if d.opts.GlobalRoutes != nil {
		for _, g := range d.opts.GlobalRoutes() {
			if c, p := d.apps[g.App], byApp[g.App]; c != nil && p != nil {
				g.Backends, g.Canary, g.CanaryWeight = p.active, p.canary, c.weight
			}
			table = append(table, g)
		}
	}
	d.mu.Unlock()
	d.opts.Router.Update(table)
}

// Republish rebuilds the routing table, e.g. after the global routes changed.
func (d *Deployer) Republish() { d.publish() }

func sortBackends(bs []router.Backend) {
	sort.Slice(bs, func(i, j int) bool { return bs[i].ID < bs[j].ID })
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
			ID: in.id, Release: in.release, Healthy: in.healthy, Port: s.Port, Host: s.Host, Role: in.role.String(),
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

// instanceEnv is the release's env with its secrets added.
func (d *Deployer) instanceEnv(c *controller, cfg paved.ReleaseConfig) map[string]string {
	env := make(map[string]string, len(cfg.Env)+len(cfg.SecretEnv)+3)
	maps.Copy(env, cfg.Env)
	maps.Copy(env, cfg.SecretEnv)
	// The cell's facts win over the app's env: an app must not be able to
	// claim another region or another app's data.
	if d.opts.Region != "" {
		env["PAVED_REGION"] = d.opts.Region
	}
	if d.opts.Cloud != "" {
		env["PAVED_CLOUD"] = d.opts.Cloud
	}
	if dir := d.volume(c.space, c.name); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			d.log.Error("create app data dir", "app", Key(c.space, c.name), "err", err)
		} else {
			env["PAVED_DATA_DIR"] = dir
		}
	}
	return env
}

// volume is an app's persistent data directory, "" when the cell has none.
func (d *Deployer) volume(space, name string) string {
	if d.opts.VolumesDir == "" {
		return ""
	}
	return filepath.Join(d.opts.VolumesDir, space, name)
}
