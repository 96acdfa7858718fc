package deploy

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// This file tests the rollout planner (planner.go) with a deterministic
// simulator: a fake world of "old" and "new" instances on a fake clock, a
// fake router that sends a share of the traffic to the canaries, and the
// executor's loop (observe, Plan, apply, advance 50ms). Invariants are
// checked at every tick over many shapes of deployment.

// ---------------------------------------------------------------------------
// The simulator.

const simTick = 50 * time.Millisecond

var simT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// simKind is how a new instance behaves once started.
type simKind int

const (
	simHealthyAfter simKind = iota // healthy from age `after` (ticks) on
	simNeverHealthy                // never passes its health check
	simCrashLoop                   // never healthy, Crashes+1 every tick
	simFlaps                       // healthy from age `after`, unhealthy again from age `until`
)

type simBehaviour struct {
	kind         simKind
	after, until int
}

func simHealthyIn(n int) simBehaviour { return simBehaviour{kind: simHealthyAfter, after: n} }

// simInst is one instance of the fake world.
type simInst struct {
	id        string
	old       bool
	b         simBehaviour
	age       int // ticks since start
	healthy   bool
	ready     time.Time // when it last turned healthy
	crashes   int
	lastExit  string
	role      Role
	draining  bool // stopped: unrouted and invisible to the planner, gone after drainLeft ticks
	drainLeft int
}

func (in simInst) inst() Inst {
	return Inst{ID: in.id, Healthy: in.healthy, ReadySince: in.ready, Crashes: in.crashes, LastExit: in.lastExit, Role: in.role}
}

// simConfig describes one simulated deployment.
type simConfig struct {
	s          Strategy
	want       int
	hasOld     bool
	noOld      bool                          // hasOld, but no old instance runs at the start
	newB       func(serial int) simBehaviour // behaviour of the n-th new instance (1-based); nil: healthy after 2 ticks
	oldAfter   int                           // ticks an instance started by StartOld takes to turn healthy; 0: 2
	crashLoop  int                           // Observation.CrashLoop; 0: 3
	drain      bool                          // stopped instances linger (unrouted, unobserved) for drainTicks
	drainTicks int                           // 0: 1
	reqs       float64                       // requests to the app per tick; 0: 1000
	errRate    float64                       // share of the requests to new instances that fail
	budget     int                           // ticks before the run counts as a livelock; 0: 4000
	progress   Progress                      // persisted progress to start from (restart)
	setup      func(w *simWorld)             // adjusts the initial world
}

type simTraffic struct {
	at       time.Time
	req, err float64
}

type simWorld struct {
	cfg       simConfig
	now       time.Time
	tick      int
	insts     []*simInst
	weight    int
	newSerial int
	oldSerial int
	traffic   []simTraffic
}

// simStep records one iteration of the executor's loop.
type simStep struct {
	tick   int
	now    time.Time
	in     Progress
	obs    Observation
	d      Decision
	before []simInst // the world as observed (including draining instances)
	after  []simInst // the world once the decision is applied
	weight int       // the canary weight once applied
}

type simResult struct {
	steps   []simStep
	final   Decision
	outcome Outcome
	world   *simWorld // after the last decision, drains completed
}

// failStep is the decision that gave up (the first with a Reason), or nil.
func (r *simResult) failStep() *simStep {
	for i := range r.steps {
		if r.steps[i].d.Reason != "" {
			return &r.steps[i]
		}
	}
	return nil
}

func (r *simResult) String() string {
	var b strings.Builder
	for _, st := range r.steps {
		fmt.Fprintf(&b, "  t%-4d %-12s step=%d old=%d new=%d/%dh start=%d(%s) startOld=%d stop=%v w=%d out=%q %s %s\n",
			st.tick, st.d.Progress.Phase, st.d.Progress.Step, len(st.obs.Old), len(st.obs.New), countHealthy(st.obs.New),
			st.d.StartNew, st.d.StartRole, st.d.StartOld, st.d.Stop, st.d.Weight, st.d.Outcome, st.d.Note, st.d.Reason)
	}
	return b.String()
}

func newSimWorld(cfg simConfig) *simWorld {
	if cfg.newB == nil {
		cfg.newB = func(int) simBehaviour { return simHealthyIn(2) }
	}
	if cfg.oldAfter == 0 {
		cfg.oldAfter = 2
	}
	if cfg.crashLoop == 0 {
		cfg.crashLoop = 3
	}
	if cfg.reqs == 0 {
		cfg.reqs = 1000
	}
	if cfg.budget == 0 {
		cfg.budget = 4000
	}
	if cfg.drainTicks == 0 {
		cfg.drainTicks = 1
	}
	w := &simWorld{cfg: cfg, now: simT0}
	if cfg.hasOld && !cfg.noOld {
		for range cfg.want {
			w.oldSerial++
			w.insts = append(w.insts, &simInst{
				id: fmt.Sprintf("old-%d", w.oldSerial), old: true, b: simHealthyIn(0), age: 1000,
				healthy: true, ready: simT0.Add(-time.Hour), role: RoleActive,
			})
		}
	}
	if cfg.setup != nil {
		cfg.setup(w)
	}
	return w
}

func (w *simWorld) live() []*simInst {
	var out []*simInst
	for _, in := range w.insts {
		if !in.draining {
			out = append(out, in)
		}
	}
	return out
}

func (w *simWorld) snapshot() []simInst {
	out := make([]simInst, 0, len(w.insts))
	for _, in := range w.insts {
		out = append(out, *in)
	}
	return out
}

func (w *simWorld) find(id string) *simInst {
	for _, in := range w.insts {
		if in.id == id {
			return in
		}
	}
	return nil
}

// observe is what the executor hands the planner: live instances split by
// release, and the canary requests counted since the step's watch began.
func (w *simWorld) observe(p Progress) Observation {
	o := Observation{Now: w.now, Want: w.cfg.want, HasOld: w.cfg.hasOld, CrashLoop: w.cfg.crashLoop}
	for _, in := range w.insts {
		if in.draining {
			o.Stopping++ // as the executor reports instances still stopping
		}
	}
	for _, in := range w.live() {
		if in.old {
			o.Old = append(o.Old, in.inst())
		} else {
			o.New = append(o.New, in.inst())
		}
	}
	var req, errs float64
	for _, tr := range w.traffic {
		if tr.at.After(p.StepStarted) {
			req += tr.req
			errs += tr.err
		}
	}
	// Whole requests only, and never more errors than the model's share.
	o.Canary = Window{Requests: int64(math.Floor(req + 1e-6)), Errors: int64(math.Floor(errs + 1e-6))}
	return o
}

// apply carries out a decision the way the executor does.
func (w *simWorld) apply(t *testing.T, o Observation, d Decision) {
	t.Helper()
	// Instances done draining are gone now.
	w.insts = slices.DeleteFunc(w.insts, func(in *simInst) bool { return in.draining && in.drainLeft <= 0 })
	visible := map[string]bool{}
	for _, in := range append(slices.Clone(o.Old), o.New...) {
		visible[in.ID] = true
	}
	stopped := map[string]bool{}
	for _, id := range d.Stop {
		if !visible[id] {
			t.Errorf("tick %d: Stop names %s, which the planner did not observe", w.tick, id)
			continue
		}
		if stopped[id] {
			t.Errorf("tick %d: Stop names %s twice", w.tick, id)
		}
		stopped[id] = true
		in := w.find(id)
		if w.cfg.drain {
			in.draining, in.drainLeft = true, w.cfg.drainTicks
		} else {
			w.insts = slices.DeleteFunc(w.insts, func(x *simInst) bool { return x.id == id })
		}
	}
	for id := range visible {
		if _, ok := d.Roles[id]; !ok && !stopped[id] {
			t.Errorf("tick %d: instance %s stays but the decision gives it no role", w.tick, id)
		}
	}
	for id, r := range d.Roles {
		if !visible[id] {
			t.Errorf("tick %d: Roles names %s, which the planner did not observe", w.tick, id)
			continue
		}
		if in := w.find(id); in != nil && !in.draining {
			in.role = r
		}
	}
	if d.StartNew < 0 || d.StartOld < 0 {
		t.Errorf("tick %d: negative start: StartNew %d StartOld %d", w.tick, d.StartNew, d.StartOld)
	}
	for range d.StartNew {
		w.newSerial++
		b := w.cfg.newB(w.newSerial)
		in := &simInst{id: fmt.Sprintf("new-%d", w.newSerial), b: b, role: d.StartRole}
		in.evolve(w.now, false)
		w.insts = append(w.insts, in)
	}
	for range d.StartOld {
		w.oldSerial++
		in := &simInst{id: fmt.Sprintf("old-%d", w.oldSerial), old: true, b: simHealthyIn(w.cfg.oldAfter), role: RoleActive}
		in.evolve(w.now, false)
		w.insts = append(w.insts, in)
	}
	if d.Weight < 0 || d.Weight > 100 {
		t.Errorf("tick %d: weight %d out of 0..100", w.tick, d.Weight)
	}
	w.weight = d.Weight
}

// evolve sets an instance's health for its age; grow ages it one tick first.
func (in *simInst) evolve(now time.Time, grow bool) {
	if grow {
		in.age++
	}
	var h bool
	switch in.b.kind {
	case simHealthyAfter:
		h = in.age >= in.b.after
	case simNeverHealthy:
	case simCrashLoop:
		if grow {
			in.crashes++
			in.lastExit = "exit status 1"
		}
	case simFlaps:
		h = in.age >= in.b.after && in.age < in.b.until
	}
	if h && !in.healthy {
		in.ready = now
	}
	if !h {
		in.ready = time.Time{}
	}
	in.healthy = h
}

// routed tells whether the router sends traffic to an instance: it routes
// only healthy instances, active ones and canaries while the weight is set.
func routed(in simInst, weight int) bool {
	return !in.draining && in.healthy && (in.role == RoleActive || in.role == RoleCanary && weight > 0)
}

// advance moves the clock one tick: traffic flows for the tick under the
// routes just set, then every instance ages.
func (w *simWorld) advance() {
	var active, newActive, newCanary int
	for _, in := range w.insts {
		if !routed(*in, w.weight) {
			continue
		}
		switch {
		case in.role == RoleActive:
			active++
			if !in.old {
				newActive++
			}
		case in.role == RoleCanary && !in.old:
			newCanary++
		}
	}
	share := 0.0
	rest := 1.0
	if newCanary > 0 && w.weight > 0 {
		share = float64(w.weight) / 100
		rest = 1 - share
	}
	if active > 0 {
		share += rest * float64(newActive) / float64(active)
	}
	w.now = w.now.Add(simTick)
	w.tick++
	req := w.cfg.reqs * share
	w.traffic = append(w.traffic, simTraffic{at: w.now, req: req, err: req * w.cfg.errRate})
	for _, in := range w.insts {
		if in.draining {
			in.drainLeft--
		} else {
			in.evolve(w.now, true)
		}
	}
}

func cloneObs(o Observation) Observation {
	o.Old = slices.Clone(o.Old)
	o.New = slices.Clone(o.New)
	return o
}

func cloneStrategy(s Strategy) Strategy {
	s.Steps = slices.Clone(s.Steps)
	return s
}

// simulate runs the executor's loop until an Outcome, failing the test when
// the tick budget runs out (a livelock).
func simulate(t *testing.T, cfg simConfig) *simResult {
	t.Helper()
	w := newSimWorld(cfg)
	cfg = w.cfg
	p := cfg.progress
	res := &simResult{world: w}
	for w.tick < cfg.budget {
		o := w.observe(p)
		before := w.snapshot()
		sIn, oIn := cloneStrategy(cfg.s), cloneObs(o)
		d := Plan(cfg.s, p, o)
		if !reflect.DeepEqual(cfg.s, sIn) || !reflect.DeepEqual(o, oIn) {
			t.Fatalf("tick %d: Plan modified its inputs", w.tick)
		}
		if d2 := Plan(cfg.s, p, o); !reflect.DeepEqual(d, d2) {
			t.Fatalf("tick %d: Plan is not deterministic:\n%+v\n%+v", w.tick, d, d2)
		}
		if (d.Outcome == Continue) == (d.Progress.Phase == PhaseDone) {
			t.Errorf("tick %d: outcome %q in phase %q", w.tick, d.Outcome, d.Progress.Phase)
		}
		if d.Outcome != Continue && d.Outcome != Succeeded && d.Reason == "" && !slices.ContainsFunc(res.steps, func(st simStep) bool { return st.d.Reason != "" }) {
			t.Errorf("tick %d: outcome %q without any reason", w.tick, d.Outcome)
		}
		w.apply(t, o, d)
		res.steps = append(res.steps, simStep{tick: w.tick, now: w.now, in: p, obs: o, d: d, before: before, after: w.snapshot(), weight: w.weight})
		p = d.Progress
		if d.Outcome != Continue {
			res.final, res.outcome = d, d.Outcome
			// Let the last drains finish.
			w.insts = slices.DeleteFunc(w.insts, func(in *simInst) bool { return in.draining })
			return res
		}
		w.advance()
	}
	t.Fatalf("livelock: no outcome after %d ticks (%s); last decisions:\n%s", cfg.budget, time.Duration(cfg.budget)*simTick, lastSteps(res, 12))
	return nil
}

func lastSteps(r *simResult, n int) string {
	c := *r
	if len(c.steps) > n {
		c.steps = c.steps[len(c.steps)-n:]
	}
	return c.String()
}

// ---------------------------------------------------------------------------
// Helpers for specs and counts.

func ptrTo[T any](v T) *T { return &v }

func dur(d time.Duration) paved.Duration { return paved.Duration(d) }

// simSpec resolves a spec after checking that it is valid for want instances.
func simSpec(t *testing.T, sp paved.DeploymentSpec, want int) Strategy {
	t.Helper()
	if errs := sp.Validate(want); len(errs) > 0 {
		t.Fatalf("test spec is invalid: %v", errs)
	}
	return Resolve(&sp)
}

type simCounts struct {
	old, new, oldHealthy, newHealthy, healthyRouted, live int
}

func countWorld(insts []simInst, weight int) simCounts {
	var c simCounts
	for _, in := range insts {
		if in.draining {
			continue
		}
		c.live++
		if in.old {
			c.old++
			if in.healthy {
				c.oldHealthy++
			}
		} else {
			c.new++
			if in.healthy {
				c.newHealthy++
			}
		}
		if routed(in, weight) {
			c.healthyRouted++
		}
	}
	return c
}

// expectEnd checks the final world: n healthy instances of one release, all
// active, none of the other, no canary weight.
func expectEnd(t *testing.T, r *simResult, out Outcome, newN, oldN int) {
	t.Helper()
	if r.outcome != out {
		t.Fatalf("outcome %q, want %q (reason %q); decisions:\n%s", r.outcome, out, r.final.Reason, lastSteps(r, 20))
	}
	c := countWorld(r.world.snapshot(), r.world.weight)
	if c.new != newN || c.old != oldN {
		t.Fatalf("ended with %d new and %d old instances, want %d new and %d old; decisions:\n%s", c.new, c.old, newN, oldN, lastSteps(r, 20))
	}
	if c.newHealthy != newN || c.oldHealthy != oldN {
		t.Errorf("ended with %d/%d new and %d/%d old healthy", c.newHealthy, c.new, c.oldHealthy, c.old)
	}
	for _, in := range r.world.live() {
		if in.role != RoleActive {
			t.Errorf("%s ended with role %s, want active", in.id, in.role)
		}
	}
	if r.world.weight != 0 {
		t.Errorf("ended with canary weight %d, want 0", r.world.weight)
	}
}

var (
	simWants        = []int{1, 2, 3, 4, 5, 6, 7, 8}
	simMaxInFlights = []string{"1", "2", "25%", "50%", "100%"}
	simMinHealthy   = []time.Duration{0, 200 * time.Millisecond}
)

// ---------------------------------------------------------------------------
// Rolling.

func TestSimRollingInvariants(t *testing.T) {
	for _, want := range simWants {
		for _, mif := range simMaxInFlights {
			for _, mht := range simMinHealthy {
				for _, drain := range []bool{false, true} {
					for _, after := range []int{1, 3} {
						name := fmt.Sprintf("want=%d/mif=%s/mht=%s/drain=%v/healthyAfter=%d", want, mif, mht, drain, after)
						t.Run(name, func(t *testing.T) {
							s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyRolling, MaxInFlight: mif, MinHealthyTime: dur(mht)}, want)
							k, err := paved.ParseMaxInFlight(mif, want)
							if err != nil {
								t.Fatal(err)
							}
							r := simulate(t, simConfig{s: s, want: want, hasOld: true, drain: drain,
								newB: func(int) simBehaviour { return simHealthyIn(after) }})
							checkRolling(t, r, s, want, k)
							expectEnd(t, r, Succeeded, want, 0)
						})
					}
				}
			}
		}
	}
}

// checkRolling checks, at every tick, zero-downtime capacity and the
// max_in_flight bounds of a rolling phase.
func checkRolling(t *testing.T, r *simResult, s Strategy, want, k int) {
	t.Helper()
	for _, st := range r.steps {
		for _, snap := range [][]simInst{st.before, st.after} {
			if c := countWorld(snap, st.weight); c.healthyRouted < want {
				t.Fatalf("tick %d: only %d healthy routed instances, want at least %d; decisions:\n%s", st.tick, c.healthyRouted, want, r)
			}
		}
		if st.d.Progress.Phase != PhaseRolling && st.in.Phase != PhaseRolling {
			continue
		}
		notReady, live := 0, 0
		for _, in := range st.after {
			if in.draining {
				continue
			}
			live++
			settled := in.healthy && st.now.Sub(in.ready) >= s.MinHealthyTime
			if !in.old && !settled {
				notReady++
			}
		}
		if notReady > k {
			t.Fatalf("tick %d: %d new instances not ready, more than max_in_flight %d; decisions:\n%s", st.tick, notReady, k, r)
		}
		if live > want+k {
			t.Fatalf("tick %d: %d instances run, more than want %d + max_in_flight %d; decisions:\n%s", st.tick, live, want, k, r)
		}
	}
}

// ---------------------------------------------------------------------------
// Blue-green.

func TestSimBlueGreenInvariants(t *testing.T) {
	for _, want := range simWants {
		for _, keep := range []time.Duration{0, time.Second} {
			for _, mht := range simMinHealthy {
				for _, drain := range []bool{false, true} {
					for _, after := range []int{1, 4} {
						name := fmt.Sprintf("want=%d/keep=%s/mht=%s/drain=%v/healthyAfter=%d", want, keep, mht, drain, after)
						t.Run(name, func(t *testing.T) {
							s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: dur(keep), MinHealthyTime: dur(mht)}, want)
							r := simulate(t, simConfig{s: s, want: want, hasOld: true, drain: drain,
								newB: func(int) simBehaviour { return simHealthyIn(after) }})
							checkBlueGreen(t, r, s, want)
							expectEnd(t, r, Succeeded, want, 0)
						})
					}
				}
			}
		}
	}
}

func checkBlueGreen(t *testing.T, r *simResult, s Strategy, want int) {
	t.Helper()
	switched := -1
	for i, st := range r.steps {
		for _, snap := range [][]simInst{st.before, st.after} {
			if c := countWorld(snap, st.weight); c.healthyRouted < want {
				t.Fatalf("tick %d: only %d healthy routed instances, want at least %d; decisions:\n%s", st.tick, c.healthyRouted, want, r)
			}
		}
		if st.d.StartNew > 0 && st.d.StartRole != RoleStandby {
			t.Fatalf("tick %d: new instances start as %s, want standby", st.tick, st.d.StartRole)
		}
		anyRouted := false
		for _, in := range st.obs.New {
			if st.d.Roles[in.ID] != RoleStandby {
				anyRouted = true
			}
		}
		if switched < 0 && anyRouted {
			switched = i
			// The switch: every new instance active and every old one
			// standby, in this one decision.
			if len(st.obs.New) != want || countHealthy(st.obs.New) != want {
				t.Fatalf("tick %d: switched with %d new instances (%d healthy), want %d", st.tick, len(st.obs.New), countHealthy(st.obs.New), want)
			}
			for _, in := range st.obs.New {
				if st.d.Roles[in.ID] != RoleActive {
					t.Fatalf("tick %d: partial switch: %s is %s", st.tick, in.ID, st.d.Roles[in.ID])
				}
			}
			for _, in := range st.obs.Old {
				if st.d.Roles[in.ID] != RoleStandby {
					t.Fatalf("tick %d: partial switch: old %s is still %s", st.tick, in.ID, st.d.Roles[in.ID])
				}
			}
			if st.d.Progress.Phase != PhaseKeeping && st.d.Outcome != Succeeded {
				t.Errorf("tick %d: phase %q after the switch, want keeping", st.tick, st.d.Progress.Phase)
			}
		}
		if switched < 0 {
			for _, in := range st.after {
				if !in.old && in.role != RoleStandby {
					t.Fatalf("tick %d: new %s routed as %s before the switch", st.tick, in.id, in.role)
				}
			}
		}
		for _, id := range st.d.Stop {
			if strings.HasPrefix(id, "old-") {
				if switched < 0 {
					t.Fatalf("tick %d: old %s stopped before the switch", st.tick, id)
				}
				if kept := st.now.Sub(r.steps[switched].now); kept < s.KeepOld {
					t.Fatalf("tick %d: old %s stopped %s after the switch, before keep_old %s", st.tick, id, kept, s.KeepOld)
				}
			}
		}
	}
	if switched < 0 {
		t.Fatalf("never switched; decisions:\n%s", r)
	}
}

// ---------------------------------------------------------------------------
// Canary.

type simSteps struct {
	name  string
	steps []paved.CanaryStep
}

var canaryStepShapes = []simSteps{
	{"default", nil},
	{"i1", []paved.CanaryStep{{Instances: 1, Watch: dur(200 * time.Millisecond)}}},
	{"i1-i2", []paved.CanaryStep{{Instances: 1, Watch: dur(150 * time.Millisecond)}, {Instances: 2, Watch: dur(200 * time.Millisecond)}}},
	{"i3-i1", []paved.CanaryStep{{Instances: 3, Watch: dur(100 * time.Millisecond)}, {Instances: 1, Watch: dur(100 * time.Millisecond)}}},
	{"w10", []paved.CanaryStep{{Weight: 10, Watch: dur(200 * time.Millisecond)}}},
	{"w10-w50-w100", []paved.CanaryStep{{Weight: 10, Watch: dur(100 * time.Millisecond)}, {Weight: 50, Watch: dur(100 * time.Millisecond)}, {Weight: 100, Watch: dur(100 * time.Millisecond)}}},
	{"i1-w25", []paved.CanaryStep{{Instances: 1, Watch: dur(100 * time.Millisecond)}, {Weight: 25, Watch: dur(150 * time.Millisecond)}}},
	{"w50-i2", []paved.CanaryStep{{Weight: 50, Watch: dur(100 * time.Millisecond)}, {Instances: 2, Watch: dur(100 * time.Millisecond)}}},
}

// expectShape is the canaries a step runs: a weight step runs
// ceil(want*weight/100) (at least 1) canary-role instances taking the
// weight; an instances step runs that many active instances.
func expectShape(st paved.CanaryStep, want int) (count int, role Role, weight int) {
	if st.Weight > 0 {
		return max(1, (want*st.Weight+99)/100), RoleCanary, st.Weight
	}
	return st.Instances, RoleActive, 0
}

func maxStepInstances(steps []paved.CanaryStep) int {
	n := 0
	for _, st := range steps {
		n = max(n, st.Instances)
	}
	return n
}

func TestSimCanaryInvariants(t *testing.T) {
	for _, shape := range canaryStepShapes {
		for _, want := range simWants {
			if maxStepInstances(shape.steps) > want {
				continue
			}
			for _, mif := range simMaxInFlights {
				for _, mht := range simMinHealthy {
					for _, drain := range []bool{false, true} {
						name := fmt.Sprintf("%s/want=%d/mif=%s/mht=%s/drain=%v", shape.name, want, mif, mht, drain)
						t.Run(name, func(t *testing.T) {
							sp := paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: slices.Clone(shape.steps), MaxInFlight: mif, MinHealthyTime: dur(mht)}
							s := simSpec(t, sp, want)
							if shape.steps == nil {
								s.Steps[0].Watch = dur(200 * time.Millisecond) // the default 30s is long for a simulation
							}
							k, _ := paved.ParseMaxInFlight(mif, want)
							r := simulate(t, simConfig{s: s, want: want, hasOld: true, drain: drain})
							checkCanary(t, r, s, want, k, 0)
							expectEnd(t, r, Succeeded, want, 0)
						})
					}
				}
			}
		}
	}
}

// checkCanary checks every step's canaries (count, role, weight), that each
// step is watched for its watch with min_requests seen, and capacity.
func checkCanary(t *testing.T, r *simResult, s Strategy, want, k, firstStep int) {
	t.Helper()
	watchStart := map[int]time.Time{}
	passed := map[int]bool{}
	for _, st := range r.steps {
		for _, snap := range [][]simInst{st.before, st.after} {
			if c := countWorld(snap, st.weight); c.healthyRouted < want {
				t.Fatalf("tick %d: only %d healthy routed instances, want at least %d; decisions:\n%s", st.tick, c.healthyRouted, want, r)
			}
		}
		ph, step := st.d.Progress.Phase, st.d.Progress.Step
		// The decision that passes a step only moves the progress on; the
		// next one reshapes the canaries for the next step.
		advancing := st.in.Phase == PhaseWatching && step != st.in.Step
		if (ph == PhaseStarting || ph == PhaseWatching) && !advancing {
			count, role, weight := expectShape(s.Steps[step], want)
			c := countWorld(st.after, st.weight)
			if c.new != count {
				t.Fatalf("tick %d: step %d runs %d canaries, want %d; decisions:\n%s", st.tick, step+1, c.new, count, r)
			}
			if c.old != want {
				t.Fatalf("tick %d: step %d with %d old instances, want all %d", st.tick, step+1, c.old, want)
			}
			for _, in := range st.after {
				if !in.old && !in.draining && in.role != role {
					t.Fatalf("tick %d: canary %s has role %s, want %s", st.tick, in.id, in.role, role)
				}
			}
			if st.d.Weight != weight {
				t.Fatalf("tick %d: step %d weight %d, want %d", st.tick, step+1, st.d.Weight, weight)
			}
			if st.d.StartNew > 0 && st.d.StartRole != role {
				t.Fatalf("tick %d: canaries start as %s, want %s", st.tick, st.d.StartRole, role)
			}
		}
		if ph == PhaseWatching && st.in.Phase != PhaseWatching {
			if _, ok := watchStart[step]; ok {
				t.Fatalf("tick %d: step %d watched twice", st.tick, step+1)
			}
			watchStart[step] = st.now
			if c := countWorld(st.after, st.weight); c.newHealthy < c.new {
				t.Fatalf("tick %d: watching with unhealthy canaries", st.tick)
			}
		}
		if st.in.Phase == PhaseWatching && (step > st.in.Step || ph == PhaseRolling) {
			i := st.in.Step
			passed[i] = true
			started, ok := watchStart[i]
			if !ok {
				t.Fatalf("tick %d: step %d passed without being watched", st.tick, i+1)
			}
			if w := st.now.Sub(started); w < s.Steps[i].Watch.D() {
				t.Fatalf("tick %d: step %d passed after %s, before its watch %s", st.tick, i+1, w, s.Steps[i].Watch)
			}
			if st.obs.Canary.Requests < int64(s.MinRequests) {
				t.Fatalf("tick %d: step %d passed on %d requests, under min_requests %d", st.tick, i+1, st.obs.Canary.Requests, s.MinRequests)
			}
		}
		if ph == PhaseRolling {
			// The last step's canaries may still be short of
			// min_healthy_time; the rolling phase adds no more than
			// max_in_flight on top of what it found.
			notReady := func(snap []simInst) int {
				n := 0
				for _, in := range snap {
					settled := in.healthy && st.now.Sub(in.ready) >= s.MinHealthyTime
					if !in.draining && !in.old && !settled {
						n++
					}
				}
				return n
			}
			if before, after := notReady(st.before), notReady(st.after); after > max(k, before) {
				t.Fatalf("tick %d: %d new instances not ready in the rolling phase (%d before), more than max_in_flight %d", st.tick, after, before, k)
			}
		}
	}
	for i := firstStep; i < len(s.Steps); i++ {
		if !passed[i] {
			t.Fatalf("step %d never passed; decisions:\n%s", i+1, r)
		}
	}
}

// canarySim is a canary deployment of want instances over the given steps
// with an error model; the progress deadline is short.
func canarySim(t *testing.T, want int, steps []paved.CanaryStep, errRate float64, mutate func(*paved.DeploymentSpec)) (*simResult, Strategy) {
	t.Helper()
	sp := paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: steps, MaxErrorRate: ptrTo(0.05), ProgressDeadline: ptrTo(dur(time.Second))}
	if mutate != nil {
		mutate(&sp)
	}
	s := simSpec(t, sp, want)
	return simulate(t, simConfig{s: s, want: want, hasOld: true, errRate: errRate}), s
}

func TestSimCanaryErrorRateRollsBack(t *testing.T) {
	for _, shape := range canaryStepShapes[1:] {
		for _, want := range []int{1, 3, 4, 8} {
			if maxStepInstances(shape.steps) > want {
				continue
			}
			t.Run(fmt.Sprintf("%s/want=%d", shape.name, want), func(t *testing.T) {
				r, s := canarySim(t, want, slices.Clone(shape.steps), 0.20, nil)
				expectEnd(t, r, RolledBack, 0, want)
				f := r.failStep()
				if f == nil {
					t.Fatalf("no decision gave a reason; decisions:\n%s", r)
				}
				if f.in.Phase != PhaseWatching || f.in.Step != 0 {
					t.Fatalf("failed in phase %q step %d, want while watching step 1", f.in.Phase, f.in.Step+1)
				}
				w := f.obs.Canary
				if w.Requests < int64(s.MinRequests) {
					t.Fatalf("judged on %d requests, under min_requests %d", w.Requests, s.MinRequests)
				}
				rate := fmt.Sprintf("%.1f%%", float64(w.Errors)/float64(w.Requests)*100)
				if !strings.Contains(f.d.Reason, rate) || !strings.Contains(f.d.Reason, "error rate") {
					t.Fatalf("reason %q does not give the measured error rate %s", f.d.Reason, rate)
				}
				if f.d.Progress.Phase != PhaseRollingBack || f.d.Weight != 0 {
					t.Fatalf("the failing decision has phase %q weight %d, want rolling_back and 0", f.d.Progress.Phase, f.d.Weight)
				}
				for _, st := range r.steps {
					if st.d.Progress.Phase == PhaseRolling {
						t.Fatalf("tick %d: a failing canary reached the rolling phase", st.tick)
					}
				}
			})
		}
	}
}

// TestSimCanaryErrorRateReason pins the exact reason for a 20% error rate.
func TestSimCanaryErrorRateReason(t *testing.T) {
	r, _ := canarySim(t, 4, []paved.CanaryStep{{Weight: 25, Watch: dur(time.Second)}}, 0.20, nil)
	expectEnd(t, r, RolledBack, 0, 4)
	f := r.failStep()
	if f == nil || !strings.Contains(f.d.Reason, "20.0%") || !strings.Contains(f.d.Reason, "above max_error_rate 5.0%") || !strings.Contains(f.d.Reason, "step 1") {
		t.Fatalf("reason %v, want the 20.0%% error rate at step 1 above max_error_rate 5.0%%", f)
	}
	if !strings.Contains(f.d.Note, "rolling back") {
		t.Errorf("note %q does not say it rolls back", f.d.Note)
	}
}

// TestSimRolledBackOutcomeKeepsReason: the executor records the reason of
// the decision that carries the Outcome (rollout.go: finishDeployment uses
// dec.Reason), so a RolledBack outcome must still say why.
func TestSimRolledBackOutcomeKeepsReason(t *testing.T) {
	r, _ := canarySim(t, 4, []paved.CanaryStep{{Weight: 25, Watch: dur(time.Second)}}, 0.20, nil)
	expectEnd(t, r, RolledBack, 0, 4)
	if !strings.Contains(r.final.Reason, "20.0%") {
		t.Fatalf("the RolledBack decision has Reason %q, want the reason the rollback started for (%q): Progress must carry it to the decision with the Outcome",
			r.final.Reason, r.failStep().d.Reason)
	}
}

func TestSimCanaryZeroErrorsSucceeds(t *testing.T) {
	r, _ := canarySim(t, 5, []paved.CanaryStep{{Instances: 1, Watch: dur(200 * time.Millisecond)}, {Weight: 40, Watch: dur(200 * time.Millisecond)}}, 0, nil)
	expectEnd(t, r, Succeeded, 5, 0)
	if f := r.failStep(); f != nil {
		t.Fatalf("unexpected failure: %s", f.d.Reason)
	}
}

// An error rate at the threshold passes; only above it fails.
func TestSimCanaryErrorRateAtThreshold(t *testing.T) {
	r, _ := canarySim(t, 4, []paved.CanaryStep{{Weight: 25, Watch: dur(200 * time.Millisecond)}}, 0.05, nil)
	expectEnd(t, r, Succeeded, 4, 0)
	r, _ = canarySim(t, 4, []paved.CanaryStep{{Weight: 25, Watch: dur(200 * time.Millisecond)}}, 0.06, nil)
	expectEnd(t, r, RolledBack, 0, 4)
}

// The error rate of a later step fails that step, not an earlier one.
func TestSimCanaryFailsAtLaterStep(t *testing.T) {
	s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyCanary, ProgressDeadline: ptrTo(dur(time.Second)),
		Steps: []paved.CanaryStep{{Instances: 1, Watch: dur(200 * time.Millisecond)}, {Weight: 50, Watch: dur(200 * time.Millisecond)}}}, 4)
	// Drive the loop by hand so that requests start failing only once the
	// first step has passed.
	w := newSimWorld(simConfig{s: s, want: 4, hasOld: true})
	p := Progress{}
	var fail *Decision
	for w.tick < 1000 {
		if p.Step >= 1 {
			w.cfg.errRate = 0.5
		}
		o := w.observe(p)
		d := Plan(s, p, o)
		w.apply(t, o, d)
		if d.Reason != "" && fail == nil {
			fail = &d
			if p.Step != 1 || p.Phase != PhaseWatching {
				t.Fatalf("failed in phase %q at step %d, want watching step 2", p.Phase, p.Step+1)
			}
		}
		p = d.Progress
		if d.Outcome != Continue {
			break
		}
		w.advance()
	}
	if fail == nil || !strings.Contains(fail.Reason, "at step 2") || !strings.Contains(fail.Reason, "50.0%") {
		t.Fatalf("failure %+v, want a 50.0%% error rate at step 2", fail)
	}
	w.insts = slices.DeleteFunc(w.insts, func(in *simInst) bool { return in.draining })
	if c := countWorld(w.snapshot(), w.weight); c.new != 0 || c.oldHealthy != 4 || c.old != 4 {
		t.Fatalf("ended with %+v, want 4 healthy old and no new", c)
	}
}

func TestSimCanaryInconclusive(t *testing.T) {
	for _, shape := range []simSteps{
		{"i1", []paved.CanaryStep{{Instances: 1, Watch: dur(200 * time.Millisecond)}}},
		{"w10", []paved.CanaryStep{{Weight: 10, Watch: dur(300 * time.Millisecond)}}},
	} {
		for _, rollback := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/auto_rollback=%v", shape.name, rollback), func(t *testing.T) {
				r, s := canarySim(t, 4, shape.steps, 0.5, func(sp *paved.DeploymentSpec) {
					sp.MinRequests = 1_000_000
					sp.AutoRollback = ptrTo(rollback)
				})
				f := r.failStep()
				if f == nil {
					t.Fatalf("no failure; decisions:\n%s", r)
				}
				var watchStart time.Time
				for _, st := range r.steps {
					if st.tick == f.tick {
						break
					}
					if st.d.Outcome != Continue || st.d.Reason != "" {
						t.Fatalf("tick %d: outcome %q before the deadline", st.tick, st.d.Outcome)
					}
					if st.d.Progress.Phase == PhaseWatching && st.in.Phase != PhaseWatching {
						watchStart = st.now
					}
				}
				if watchStart.IsZero() {
					t.Fatalf("never watched; decisions:\n%s", r)
				}
				deadline := watchStart.Add(s.Steps[0].Watch.D() + s.ProgressDeadline)
				if !f.now.After(deadline) || f.now.After(deadline.Add(simTick)) {
					t.Fatalf("failed at %s, want on the first tick after the deadline %s", f.now.Sub(watchStart), deadline.Sub(watchStart))
				}
				if !strings.Contains(f.d.Reason, "inconclusive") || !strings.Contains(f.d.Reason, "min_requests 1000000") {
					t.Fatalf("reason %q does not say the gate was inconclusive", f.d.Reason)
				}
				if rollback {
					expectEnd(t, r, RolledBack, 0, 4)
				} else if r.outcome != Failed {
					t.Fatalf("outcome %q, want failed", r.outcome)
				}
			})
		}
	}
}

func TestSimCanaryNeverHealthy(t *testing.T) {
	for _, shape := range []simSteps{
		{"i1", []paved.CanaryStep{{Instances: 1, Watch: dur(200 * time.Millisecond)}}},
		{"w25", []paved.CanaryStep{{Weight: 25, Watch: dur(200 * time.Millisecond)}}},
	} {
		t.Run(shape.name, func(t *testing.T) {
			sp := paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: shape.steps, ProgressDeadline: ptrTo(dur(time.Second))}
			s := simSpec(t, sp, 4)
			r := simulate(t, simConfig{s: s, want: 4, hasOld: true, newB: func(int) simBehaviour { return simBehaviour{kind: simNeverHealthy} }})
			expectEnd(t, r, RolledBack, 0, 4)
			f := r.failStep()
			if !strings.Contains(f.d.Reason, "no progress within the 1s progress deadline") {
				t.Fatalf("reason %q", f.d.Reason)
			}
			if f.now.Sub(simT0) <= time.Second {
				t.Fatalf("failed after %s, before the 1s deadline", f.now.Sub(simT0))
			}
			for _, st := range r.steps {
				if st.d.Progress.Phase == PhaseWatching {
					t.Fatalf("tick %d: watched an unhealthy canary", st.tick)
				}
			}
		})
	}
}

// A canary that turns unhealthy while watched fails the step at once.
func TestSimCanaryTurnsUnhealthyWhileWatched(t *testing.T) {
	sp := paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 2, Watch: dur(time.Second)}}}
	s := simSpec(t, sp, 4)
	r := simulate(t, simConfig{s: s, want: 4, hasOld: true, newB: func(n int) simBehaviour {
		if n == 2 {
			return simBehaviour{kind: simFlaps, after: 2, until: 8}
		}
		return simHealthyIn(2)
	}})
	expectEnd(t, r, RolledBack, 0, 4)
	f := r.failStep()
	if !strings.Contains(f.d.Reason, "canary instance new-2 failed its health check during step 1") {
		t.Fatalf("reason %q", f.d.Reason)
	}
	if f.in.Phase != PhaseWatching {
		t.Fatalf("failed in phase %q, want watching", f.in.Phase)
	}
}

// ---------------------------------------------------------------------------
// Recreate.

func TestSimRecreateInvariants(t *testing.T) {
	for _, want := range simWants {
		for _, drain := range []bool{false, true} {
			for _, mht := range simMinHealthy {
				t.Run(fmt.Sprintf("want=%d/drain=%v/mht=%s", want, drain, mht), func(t *testing.T) {
					s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyRecreate, MinHealthyTime: dur(mht)}, want)
					r := simulate(t, simConfig{s: s, want: want, hasOld: true, drain: drain})
					started := false
					for _, st := range r.steps {
						if st.d.StartNew > 0 {
							started = true
							if len(st.obs.Old) > 0 || len(st.d.Stop) > 0 {
								t.Fatalf("tick %d: starts %d new with %d old instances not yet stopped", st.tick, st.d.StartNew, len(st.obs.Old))
							}
						}
						if started && countWorld(st.after, st.weight).old > 0 {
							t.Fatalf("tick %d: an old instance runs after new ones started", st.tick)
						}
					}
					expectEnd(t, r, Succeeded, want, 0)
				})
			}
		}
	}
}

// Recreate stops every old instance before it starts a new one, also when
// stopping takes a while (the executor drains for drain_timeout, and the
// planner does not observe draining instances).
func TestSimRecreateWaitsForDrain(t *testing.T) {
	s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyRecreate}, 3)
	r := simulate(t, simConfig{s: s, want: 3, hasOld: true, drain: true, drainTicks: 5})
	expectEnd(t, r, Succeeded, 3, 0)
	for _, st := range r.steps {
		if st.d.StartNew == 0 {
			continue
		}
		for _, in := range st.after {
			if in.old {
				t.Fatalf("tick %d: recreate starts %d new instances while old %s is still draining: planRecreate must wait for stopping instances too",
					st.tick, st.d.StartNew, in.id)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Crash loops.

var simStrategies = []string{paved.StrategyRolling, paved.StrategyCanary, paved.StrategyBlueGreen, paved.StrategyRecreate}

func strategySpec(kind string) paved.DeploymentSpec {
	sp := paved.DeploymentSpec{Strategy: kind, MaxInFlight: "2", ProgressDeadline: ptrTo(dur(5 * time.Second))}
	if kind == paved.StrategyCanary {
		sp.Steps = []paved.CanaryStep{{Instances: 1, Watch: dur(200 * time.Millisecond)}, {Weight: 50, Watch: dur(200 * time.Millisecond)}}
	}
	return sp
}

func TestSimCrashLoop(t *testing.T) {
	for _, kind := range simStrategies {
		for _, rollback := range []bool{true, false} {
			// The first new instance crash-loops, or (rolling) the last one,
			// once the others have replaced most of the old release.
			for _, bad := range []int{1, 4} {
				if bad != 1 && kind != paved.StrategyRolling {
					continue
				}
				t.Run(fmt.Sprintf("%s/auto_rollback=%v/bad=new-%d", kind, rollback, bad), func(t *testing.T) {
					sp := strategySpec(kind)
					sp.AutoRollback = ptrTo(rollback)
					sp.MaxInFlight = "1"
					s := simSpec(t, sp, 4)
					r := simulate(t, simConfig{s: s, want: 4, hasOld: true, crashLoop: 3, newB: func(n int) simBehaviour {
						if n == bad {
							return simBehaviour{kind: simCrashLoop}
						}
						return simHealthyIn(1)
					}})
					f := r.failStep()
					if f == nil {
						t.Fatalf("no failure; decisions:\n%s", r)
					}
					badID := fmt.Sprintf("new-%d", bad)
					if !strings.Contains(f.d.Reason, "instance "+badID+" crashed 3 times") || !strings.Contains(f.d.Reason, "exit status 1") {
						t.Fatalf("reason %q does not name %s and its crashes", f.d.Reason, badID)
					}
					if rollback {
						expectEnd(t, r, RolledBack, 0, 4)
						return
					}
					if r.outcome != Failed || f != &r.steps[len(r.steps)-1] {
						t.Fatalf("outcome %q, want failed at the failing decision", r.outcome)
					}
					d := f.d
					if len(d.Stop) != 0 || d.StartNew != 0 || d.StartOld != 0 {
						t.Fatalf("a failure with auto_rollback off changed instances: stop %v start %d startOld %d", d.Stop, d.StartNew, d.StartOld)
					}
					if !reflect.DeepEqual(f.before, f.after) {
						t.Fatalf("the failing decision changed the world:\nbefore %+v\nafter  %+v", f.before, f.after)
					}
					if d.Progress.Phase != PhaseDone {
						t.Errorf("phase %q, want done", d.Progress.Phase)
					}
				})
			}
		}
	}
}

// ---------------------------------------------------------------------------
// First deploys.

func TestSimFirstDeploy(t *testing.T) {
	for _, kind := range simStrategies {
		for _, want := range simWants {
			t.Run(fmt.Sprintf("%s/want=%d", kind, want), func(t *testing.T) {
				s := simSpec(t, strategySpec(kind), want)
				r := simulate(t, simConfig{s: s, want: want, hasOld: false})
				if first := r.steps[0].d; first.StartNew != want || first.StartRole != RoleActive || first.StartOld != 0 {
					t.Fatalf("first decision starts %d as %s (old %d), want all %d active", first.StartNew, first.StartRole, first.StartOld, want)
				}
				for _, st := range r.steps {
					if len(st.d.Stop) > 0 || st.d.StartOld > 0 || (st.tick > 0 && st.d.StartNew > 0) {
						t.Fatalf("tick %d: stop %v startOld %d startNew %d on a first deploy", st.tick, st.d.Stop, st.d.StartOld, st.d.StartNew)
					}
				}
				expectEnd(t, r, Succeeded, want, 0)
			})
		}
	}
}

func TestSimFirstDeployCrashLoopFails(t *testing.T) {
	for _, kind := range simStrategies {
		for _, rollback := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/auto_rollback=%v", kind, rollback), func(t *testing.T) {
				sp := strategySpec(kind)
				sp.AutoRollback = ptrTo(rollback)
				s := simSpec(t, sp, 3)
				r := simulate(t, simConfig{s: s, want: 3, hasOld: false, newB: func(n int) simBehaviour {
					if n == 2 {
						return simBehaviour{kind: simCrashLoop}
					}
					return simHealthyIn(1)
				}})
				if r.outcome != Failed {
					t.Fatalf("outcome %q, want failed (nothing to roll back to)", r.outcome)
				}
				if !strings.Contains(r.final.Reason, "instance new-2 crashed") {
					t.Fatalf("reason %q", r.final.Reason)
				}
				if len(r.final.Stop) != 0 || r.final.StartOld != 0 {
					t.Fatalf("failing decision stops %v, starts %d old", r.final.Stop, r.final.StartOld)
				}
				if c := countWorld(r.world.snapshot(), 0); c.new != 3 || c.old != 0 {
					t.Fatalf("ended with %+v, want the 3 new instances left as they are", c)
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// Progress deadline and rollback.

func TestSimRollingNeverHealthyRollsBack(t *testing.T) {
	for _, mif := range simMaxInFlights {
		t.Run(mif, func(t *testing.T) {
			sp := paved.DeploymentSpec{MaxInFlight: mif, ProgressDeadline: ptrTo(dur(time.Second))}
			s := simSpec(t, sp, 4)
			k, _ := paved.ParseMaxInFlight(mif, 4)
			r := simulate(t, simConfig{s: s, want: 4, hasOld: true, newB: func(int) simBehaviour { return simBehaviour{kind: simNeverHealthy} }})
			// Nothing old stops while nothing new is ready.
			for _, st := range r.steps {
				if st.d.Progress.Phase == PhaseRolling && countWorld(st.after, 0).old != 4 {
					t.Fatalf("tick %d: an old instance stopped though no new one is ready", st.tick)
				}
				if st.d.Progress.Phase == PhaseRolling && countWorld(st.after, 0).new > k {
					t.Fatalf("tick %d: more than max_in_flight %d new instances", st.tick, k)
				}
			}
			expectEnd(t, r, RolledBack, 0, 4)
			if f := r.failStep(); !strings.Contains(f.d.Reason, "no progress within the 1s progress deadline: 0 of 4 new instances healthy") {
				t.Fatalf("reason %q", f.d.Reason)
			}
		})
	}
}

// A slow rollout that keeps making progress does not hit the deadline.
func TestSimRollingSlowProgressIsProgress(t *testing.T) {
	sp := paved.DeploymentSpec{MaxInFlight: "1", ProgressDeadline: ptrTo(dur(500 * time.Millisecond))}
	s := simSpec(t, sp, 6)
	// Each instance takes 8 ticks (400ms); the whole rollout 2.4s, far over
	// the deadline, but each one is progress.
	r := simulate(t, simConfig{s: s, want: 6, hasOld: true, newB: func(int) simBehaviour { return simHealthyIn(8) }})
	expectEnd(t, r, Succeeded, 6, 0)
}

// A new instance that turns unhealthy midway stops the rollout from
// replacing more old instances; it rolls back at the deadline.
func TestSimRollingFlappingInstance(t *testing.T) {
	sp := paved.DeploymentSpec{MaxInFlight: "1", ProgressDeadline: ptrTo(dur(time.Second))}
	s := simSpec(t, sp, 4)
	r := simulate(t, simConfig{s: s, want: 4, hasOld: true, newB: func(n int) simBehaviour {
		if n == 2 {
			return simBehaviour{kind: simFlaps, after: 1, until: 2}
		}
		return simHealthyIn(1)
	}})
	expectEnd(t, r, RolledBack, 0, 4)
}

func TestSimBlueGreenNeverHealthyRollsBack(t *testing.T) {
	sp := paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, ProgressDeadline: ptrTo(dur(time.Second))}
	s := simSpec(t, sp, 3)
	r := simulate(t, simConfig{s: s, want: 3, hasOld: true, newB: func(n int) simBehaviour {
		if n == 3 {
			return simBehaviour{kind: simNeverHealthy}
		}
		return simHealthyIn(1)
	}})
	checkNoSwitch(t, r)
	expectEnd(t, r, RolledBack, 0, 3)
	if f := r.failStep(); !strings.Contains(f.d.Reason, "2 of 3 new instances healthy") {
		t.Fatalf("reason %q", f.d.Reason)
	}
}

func checkNoSwitch(t *testing.T, r *simResult) {
	t.Helper()
	for _, st := range r.steps {
		for _, in := range st.after {
			if !in.old && in.role != RoleStandby {
				t.Fatalf("tick %d: new %s routed as %s", st.tick, in.id, in.role)
			}
		}
	}
}

// After the switch, a new instance turning unhealthy while the old set is
// kept switches back to the old set.
func TestSimBlueGreenUnhealthyAfterSwitch(t *testing.T) {
	for _, rollback := range []bool{true, false} {
		t.Run(fmt.Sprintf("auto_rollback=%v", rollback), func(t *testing.T) {
			sp := paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: dur(time.Second), AutoRollback: ptrTo(rollback)}
			s := simSpec(t, sp, 3)
			r := simulate(t, simConfig{s: s, want: 3, hasOld: true, newB: func(n int) simBehaviour {
				if n == 2 {
					return simBehaviour{kind: simFlaps, after: 1, until: 6}
				}
				return simHealthyIn(1)
			}})
			f := r.failStep()
			if f == nil || f.in.Phase != PhaseKeeping || !strings.Contains(f.d.Reason, "only 2 of 3 new instances stayed healthy after the switch") {
				t.Fatalf("failure %v; decisions:\n%s", f, r)
			}
			if rollback {
				for _, in := range f.obs.Old {
					if f.d.Roles[in.ID] != RoleActive {
						t.Fatalf("old %s is %s after the switch back", in.ID, f.d.Roles[in.ID])
					}
				}
				expectEnd(t, r, RolledBack, 0, 3)
			} else if r.outcome != Failed {
				t.Fatalf("outcome %q, want failed", r.outcome)
			}
		})
	}
}

// A rollback after the old instances were stopped (recreate) starts the old
// release again at full count.
func TestSimRecreateRollbackRestartsOld(t *testing.T) {
	sp := paved.DeploymentSpec{Strategy: paved.StrategyRecreate, ProgressDeadline: ptrTo(dur(time.Second))}
	s := simSpec(t, sp, 3)
	r := simulate(t, simConfig{s: s, want: 3, hasOld: true, oldAfter: 3, newB: func(int) simBehaviour { return simBehaviour{kind: simNeverHealthy} }})
	started := 0
	for _, st := range r.steps {
		started += st.d.StartOld
	}
	if started != 3 {
		t.Fatalf("started %d old instances, want 3", started)
	}
	expectEnd(t, r, RolledBack, 0, 3)
}

// A rollback should keep serving from the healthy new instances until the
// old release is back: stopping them first drops capacity.
func TestSimRollingRollbackKeepsCapacity(t *testing.T) {
	sp := paved.DeploymentSpec{MaxInFlight: "1", ProgressDeadline: ptrTo(dur(time.Second))}
	s := simSpec(t, sp, 4)
	r := simulate(t, simConfig{s: s, want: 4, hasOld: true, oldAfter: 4, newB: func(n int) simBehaviour {
		if n == 4 {
			return simBehaviour{kind: simCrashLoop}
		}
		return simHealthyIn(1)
	}})
	expectEnd(t, r, RolledBack, 0, 4)
	for _, st := range r.steps {
		if c := countWorld(st.after, st.weight); c.healthyRouted < 4 {
			t.Fatalf("tick %d (%s): the rollback leaves %d healthy routed instances of 4 (%d healthy new): it must keep healthy new instances until the old ones it starts are healthy",
				st.tick, st.d.Progress.Phase, c.healthyRouted, countHealthy(st.obs.New))
		}
	}
}

// ---------------------------------------------------------------------------
// Restarts: the planner resumes from persisted progress with the new
// instances gone.

func TestSimRestartCanaryWatching(t *testing.T) {
	steps := []paved.CanaryStep{{Instances: 1, Watch: dur(300 * time.Millisecond)}, {Weight: 50, Watch: dur(300 * time.Millisecond)}}
	for _, step := range []int{0, 1} {
		t.Run(fmt.Sprintf("step=%d", step+1), func(t *testing.T) {
			s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: steps, ProgressDeadline: ptrTo(dur(2 * time.Second))}, 4)
			p := Progress{Phase: PhaseWatching, Step: step, StepStarted: simT0.Add(-100 * time.Millisecond), LastProgress: simT0.Add(-100 * time.Millisecond)}
			r := simulate(t, simConfig{s: s, want: 4, hasOld: true, progress: p})
			if first := r.steps[0].d; first.Progress.Phase != PhaseStarting || first.StartNew == 0 {
				t.Fatalf("first decision: phase %q start %d, want the canaries started again", first.Progress.Phase, first.StartNew)
			}
			count, role, _ := expectShape(steps[step], 4)
			if first := r.steps[0].d; first.StartNew != count || first.StartRole != role {
				t.Fatalf("restarted %d canaries as %s, want %d as %s", first.StartNew, first.StartRole, count, role)
			}
			checkCanary(t, &simResult{steps: r.steps[1:]}, s, 4, 1, step)
			expectEnd(t, r, Succeeded, 4, 0)
		})
	}
}

// The canaries vanish late in a watch that is longer than the progress
// deadline: bringing them back must not count against the deadline the
// watch already used.
func TestSimRestartCanaryLateInLongWatch(t *testing.T) {
	steps := []paved.CanaryStep{{Instances: 1, Watch: dur(4 * time.Second)}}
	s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: steps, ProgressDeadline: ptrTo(dur(time.Second))}, 4)
	started := simT0.Add(-3 * time.Second) // 3s into the 4s watch; still within watch+deadline
	p := Progress{Phase: PhaseWatching, StepStarted: started, LastProgress: started}
	r := simulate(t, simConfig{s: s, want: 4, hasOld: true, progress: p})
	if r.outcome != Succeeded {
		t.Fatalf("canaries gone 3s into a 4s watch (progress_deadline 1s): outcome %q, reason %q; re-entering PhaseStarting must restart the progress deadline, not keep LastProgress from the watch start",
			r.outcome, r.final.Reason)
	}
	expectEnd(t, r, Succeeded, 4, 0)
}

func TestSimRestartBlueGreenKeeping(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oldAlive bool
		oldRole  Role
	}{
		{"old gone", false, 0},
		{"old serving again", true, RoleActive},
		{"old standby", true, RoleStandby},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: dur(500 * time.Millisecond), ProgressDeadline: ptrTo(dur(2 * time.Second))}, 3)
			started := simT0.Add(-200 * time.Millisecond)
			p := Progress{Phase: PhaseKeeping, StepStarted: started, LastProgress: started, Ready: 3}
			cfg := simConfig{s: s, want: 3, hasOld: true, progress: p, noOld: !tc.oldAlive}
			cfg.setup = func(w *simWorld) {
				for _, in := range w.insts {
					in.role = tc.oldRole
				}
			}
			r := simulate(t, cfg)
			if r.outcome != Succeeded {
				if tc.oldAlive {
					t.Fatalf("blue_green in PhaseKeeping with the old set running and the new set gone (cell restart): outcome %q, reason %q; planKeeping must start the new set again, not treat missing instances as unhealthy and roll back",
						r.outcome, r.final.Reason)
				}
				t.Fatalf("outcome %q (%q), want succeeded; decisions:\n%s", r.outcome, r.final.Reason, r)
			}
			if first := r.steps[0].d; first.StartNew != 3 || first.StartRole != RoleStandby {
				t.Fatalf("first decision starts %d as %s, want 3 standby", first.StartNew, first.StartRole)
			}
			// The capacity invariant holds from a state the cell can be in: after a
			// restart the old set comes back active. (Standby old instances at
			// tick 0 route nothing before the planner's first decision.)
			if tc.oldAlive && tc.oldRole == RoleActive {
				checkBlueGreen(t, r, s, 3)
			}
			expectEnd(t, r, Succeeded, 3, 0)
		})
	}
}

// keep_old longer than the progress deadline: keeping the old set is
// waiting by design, not a lack of progress.
func TestSimBlueGreenKeepOldLongerThanDeadline(t *testing.T) {
	s := simSpec(t, paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: dur(2 * time.Second), ProgressDeadline: ptrTo(dur(time.Second))}, 3)
	r := simulate(t, simConfig{s: s, want: 3, hasOld: true})
	if r.outcome != Succeeded {
		t.Fatalf("blue_green with keep_old 2s > progress_deadline 1s and a healthy new set: outcome %q, reason %q; keeping the old set is waiting by design, so the deadline in PhaseKeeping must add keep_old",
			r.outcome, r.final.Reason)
	}
	checkBlueGreen(t, r, s, 3)
	expectEnd(t, r, Succeeded, 3, 0)
}

// ---------------------------------------------------------------------------
// Single decisions.

func TestPlanDeterministic(t *testing.T) {
	// Whole runs repeat decision for decision.
	cases := []simConfig{
		{s: simSpec(t, paved.DeploymentSpec{MaxInFlight: "2", MinHealthyTime: dur(100 * time.Millisecond)}, 7), want: 7, hasOld: true},
		{s: simSpec(t, strategySpec(paved.StrategyCanary), 5), want: 5, hasOld: true, errRate: 0.01},
		{s: simSpec(t, strategySpec(paved.StrategyBlueGreen), 5), want: 5, hasOld: true, drain: true},
		{s: simSpec(t, strategySpec(paved.StrategyRecreate), 5), want: 5, hasOld: true,
			newB: func(n int) simBehaviour { return simBehaviour{kind: simCrashLoop} }},
	}
	for i, cfg := range cases {
		a, b := simulate(t, cfg), simulate(t, cfg)
		if len(a.steps) != len(b.steps) {
			t.Fatalf("case %d: %d vs %d decisions", i, len(a.steps), len(b.steps))
		}
		for j := range a.steps {
			if !reflect.DeepEqual(a.steps[j].d, b.steps[j].d) {
				t.Fatalf("case %d tick %d: %+v vs %+v", i, j, a.steps[j].d, b.steps[j].d)
			}
		}
	}
	// A single observation with many instances gives the same decision
	// however often it is asked.
	o := Observation{Now: simT0, Want: 6, HasOld: true, CrashLoop: 3}
	for i := range 6 {
		o.Old = append(o.Old, Inst{ID: fmt.Sprintf("old-%d", i), Healthy: true, ReadySince: simT0.Add(-time.Hour), Role: RoleActive})
		o.New = append(o.New, Inst{ID: fmt.Sprintf("new-%d", i), Healthy: i%2 == 0, ReadySince: simT0.Add(-time.Duration(i) * time.Second), Crashes: i % 3})
	}
	p := Progress{Phase: PhaseRolling, LastProgress: simT0}
	s := simSpec(t, paved.DeploymentSpec{MaxInFlight: "50%"}, 6)
	first := Plan(s, p, o)
	for range 50 {
		if d := Plan(s, p, o); !reflect.DeepEqual(d, first) {
			t.Fatalf("%+v\nvs\n%+v", d, first)
		}
	}
}

func TestPlanFirstCall(t *testing.T) {
	s := simSpec(t, strategySpec(paved.StrategyCanary), 4)
	old := []Inst{{ID: "old-1", Healthy: true, Role: RoleActive}, {ID: "old-2", Healthy: true, Role: RoleActive}, {ID: "old-3", Healthy: true, Role: RoleActive}, {ID: "old-4", Healthy: true, Role: RoleActive}}
	d := Plan(s, Progress{}, Observation{Now: simT0, Want: 4, HasOld: true, Old: old})
	want := Decision{StartNew: 1, StartRole: RoleActive,
		Roles:    map[string]Role{"old-1": RoleActive, "old-2": RoleActive, "old-3": RoleActive, "old-4": RoleActive},
		Progress: Progress{Phase: PhaseStarting, StepStarted: simT0, LastProgress: simT0}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("got  %+v\nwant %+v", d, want)
	}
}

func TestPlanWeightStepShape(t *testing.T) {
	for _, tc := range []struct{ want, weight, count int }{
		{1, 10, 1}, {4, 25, 1}, {4, 26, 2}, {10, 10, 1}, {10, 15, 2}, {3, 100, 3}, {8, 50, 4},
	} {
		count, role, weight := canaryShape(paved.CanaryStep{Weight: tc.weight}, tc.want)
		if count != tc.count || role != RoleCanary || weight != tc.weight {
			t.Errorf("weight %d of %d: %d %s %d, want %d canary %d", tc.weight, tc.want, count, role, weight, tc.count, tc.weight)
		}
	}
	count, role, weight := canaryShape(paved.CanaryStep{Instances: 2}, 5)
	if count != 2 || role != RoleActive || weight != 0 {
		t.Errorf("instances 2: %d %s %d", count, role, weight)
	}
}

// Done is terminal: planning again after success says succeeded and does
// nothing.
func TestPlanDoneIsTerminal(t *testing.T) {
	s := simSpec(t, paved.DeploymentSpec{}, 2)
	o := Observation{Now: simT0.Add(time.Hour), Want: 2, HasOld: true, New: []Inst{{ID: "new-1", Healthy: true, Role: RoleActive}, {ID: "new-2", Healthy: true, Role: RoleActive}}}
	d := Plan(s, Progress{Phase: PhaseDone, LastProgress: simT0}, o)
	if d.Outcome != Succeeded || d.StartNew != 0 || len(d.Stop) != 0 || d.Reason != "" {
		t.Fatalf("%+v", d)
	}
}

// Rollback from any phase ends on the old release.
func TestPlanRollbackPhase(t *testing.T) {
	s := simSpec(t, paved.DeploymentSpec{}, 3)
	p := Rollback(Progress{Phase: PhaseRolling, Step: 0, LastProgress: simT0}, "superseded", simT0)
	if p.Phase != PhaseRollingBack {
		t.Fatalf("phase %q", p.Phase)
	}
	o := Observation{Now: simT0, Want: 3, HasOld: true,
		Old: []Inst{{ID: "old-1", Healthy: true, Role: RoleActive}},
		New: []Inst{{ID: "new-1", Healthy: true, Role: RoleActive}, {ID: "new-2", Healthy: false, Role: RoleActive}}}
	d := Plan(s, p, o)
	// The healthy new instance keeps serving until the old release is back
	// at full strength; the unhealthy one goes at once.
	if d.StartOld != 2 || !reflect.DeepEqual(d.Stop, []string{"new-2"}) || d.Roles["new-1"] != RoleActive || d.Outcome != Continue || d.Weight != 0 {
		t.Fatalf("%+v", d)
	}
	o.Old = []Inst{{ID: "old-1", Healthy: true}, {ID: "old-2", Healthy: true}, {ID: "old-3", Healthy: true}}
	if d := Plan(s, p, o); !reflect.DeepEqual(d.Stop, []string{"new-1", "new-2"}) || d.Outcome != Continue {
		t.Fatalf("old release back at full strength, but new instances are not stopped: %+v", d)
	}
	o.Old = o.Old[:1]
	o.New = nil
	o.Old = append(o.Old, Inst{ID: "old-2", Healthy: true}, Inst{ID: "old-3", Healthy: false})
	if d := Plan(s, p, o); d.Outcome != Continue || d.StartOld != 0 {
		t.Fatalf("rolled back with an unhealthy old instance: %+v", d)
	}
	o.Old[2].Healthy = true
	if d := Plan(s, p, o); d.Outcome != RolledBack || d.Progress.Phase != PhaseDone {
		t.Fatalf("%+v", d)
	}
}
