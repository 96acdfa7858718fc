package deploy

// Fuzz target for the rollout planner, on the deterministic simulator of
// planner_test.go (observe, Plan, apply, advance 50ms). Run it with
// scripts/fuzz.sh or `make fuzz`; `go test` runs its seed corpus (f.Add
// below and testdata/fuzz/) as ordinary tests.

import (
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// FuzzPlanRollout runs a whole deployment whose shape comes from the
// fuzzer: strategy, instance count, max_in_flight, min_healthy_time,
// keep_old, canary steps, progress deadline, auto_rollback, draining, the
// canary's error rate and how each new instance behaves (healthy after a
// while, never healthy, crash-looping or flapping). Invariants, besides
// those simulate checks at every tick (Plan is pure and deterministic,
// outcome and phase agree, it stops only instances it saw, every instance
// that stays has a role, starts and weights are in range):
//
//   - no more than the declared count of new instances, nor of old ones;
//   - a rolling decision that starts instances leaves at most
//     max_in_flight new instances not ready;
//   - except with recreate (which stops everything first by design) and on
//     a first deploy (nothing serves yet), no decision takes serving
//     capacity (healthy, routed instances) below what it was, up to the
//     declared count: the last healthy instance of the serving release is
//     never stopped before a replacement is healthy;
//   - the deployment ends within the tick budget (no livelock), and ends
//     as it says: succeeded with the new release alone at full count and
//     health, rolled back with the old release alone at full count and
//     health, all active, no canary weight.
func FuzzPlanRollout(f *testing.F) {
	// kind, want, mif, timing, canary steps, flags, behaviours of the new instances
	f.Add(uint8(0), uint8(4), uint8(0), uint16(0), []byte{}, uint8(0), []byte{0x08})
	f.Add(uint8(0), uint8(6), uint8(3), uint16(0x0123), []byte{}, uint8(0x04), []byte{0x08, 0x01, 0x0c})
	f.Add(uint8(0), uint8(4), uint8(0), uint16(0x0010), []byte{}, uint8(0x00), []byte{0x04, 0x04, 0x04, 0x03})
	f.Add(uint8(1), uint8(4), uint8(1), uint16(0x0200), []byte{0x01, 0x14, 0x80 | 50, 0x14}, uint8(0), []byte{0x08})
	f.Add(uint8(1), uint8(5), uint8(4), uint16(0x0210), []byte{0x80 | 10, 0x04, 0x80 | 100, 0x04}, uint8(0x08), []byte{0x08})
	f.Add(uint8(1), uint8(3), uint8(2), uint16(0x0100), []byte{0x02, 0x0a}, uint8(0x00), []byte{0x03, 0x2b})
	f.Add(uint8(2), uint8(3), uint8(0), uint16(0x0320), []byte{}, uint8(0x02), []byte{0x08})
	f.Add(uint8(2), uint8(3), uint8(0), uint16(0x0130), []byte{}, uint8(0x00), []byte{0x04, 0x67, 0x04})
	f.Add(uint8(3), uint8(3), uint8(0), uint16(0x0010), []byte{}, uint8(0x02|0x30), []byte{0x08})
	f.Add(uint8(3), uint8(4), uint8(0), uint16(0x0100), []byte{}, uint8(0x00), []byte{0x01})
	f.Add(uint8(0), uint8(3), uint8(0), uint16(0), []byte{}, uint8(0x40), []byte{0x02})
	f.Add(uint8(2), uint8(8), uint8(5), uint16(0x0333), []byte{}, uint8(0x06), []byte{0x0b, 0x4f, 0x06})
	f.Add(uint8(0), uint8(3), uint8(1), uint16(0x0004), []byte{}, uint8(0x01), []byte{0x01, 0x08})
	f.Add(uint8(1), uint8(3), uint8(1), uint16(0x0004), []byte{0x80 | 30, 0x04}, uint8(0x0d), []byte{0x08})
	f.Fuzz(func(t *testing.T, kind, want, mif uint8, timing uint16, steps []byte, flags uint8, behaviours []byte) {
		sp, cfg := fuzzRollout(kind, want, mif, timing, steps, flags, behaviours)
		if errs := sp.Validate(cfg.want); len(errs) > 0 {
			return // the cell refuses this spec
		}
		cfg.s = Resolve(&sp)
		r := simulate(t, cfg) // fails the test on a livelock
		k := 0
		if cfg.s.Kind == paved.StrategyRolling || cfg.s.Kind == paved.StrategyCanary {
			k, _ = paved.ParseMaxInFlight(cfg.s.MaxInFlight, cfg.want)
		}
		checkRollout(t, r, cfg, k)
	})
}

// fuzzRollout turns the fuzzer's numbers into a deployment spec and a
// simulation. Times are short multiples of the 50ms tick, so that every
// deadline, watch and keep_old falls well within the tick budget.
func fuzzRollout(kind, want, mif uint8, timing uint16, steps []byte, flags uint8, behaviours []byte) (paved.DeploymentSpec, simConfig) {
	ms := func(n int) paved.Duration { return paved.Duration(time.Duration(n) * time.Millisecond) }
	sp := paved.DeploymentSpec{
		Strategy:         simStrategies[int(kind)%len(simStrategies)],
		MaxInFlight:      []string{"", "1", "2", "3", "25%", "50%", "100%", "10"}[mif%8],
		MinHealthyTime:   ms([]int{0, 0, 100, 300}[timing&3]),
		ProgressDeadline: ptrTo(ms([]int{500, 1000, 2000, 3000}[timing>>2&3])),
		AutoRollback:     ptrTo(flags&1 == 0),
	}
	if sp.Strategy == paved.StrategyBlueGreen {
		sp.KeepOld = ms([]int{0, 300, 1000, 2500}[timing>>4&3])
	}
	if sp.Strategy == paved.StrategyCanary {
		sp.MinRequests = []int{0, 1, 50, 5000}[timing>>8&3]
		sp.MaxErrorRate = []*float64{nil, ptrTo(0.0), ptrTo(0.1), ptrTo(1.0)}[timing>>10&3]
		// Two bytes a step: instances (1..127) or weight (high bit), then
		// the watch in ticks.
		for i := 0; i+1 < len(steps) && i < 8; i += 2 {
			st := paved.CanaryStep{Watch: ms(50 * int(steps[i+1]%16))}
			if steps[i]&0x80 != 0 {
				st.Weight = int(steps[i] & 0x7f)
			} else {
				st.Instances = int(steps[i])
			}
			sp.Steps = append(sp.Steps, st)
		}
		if len(sp.Steps) == 0 {
			sp.Steps = []paved.CanaryStep{{Instances: 1, Watch: ms(200)}} // the default watch (30s) is long for a simulation
		}
	}
	cfg := simConfig{
		want:       1 + int(want%8),
		hasOld:     flags&0x40 == 0,
		drain:      flags&2 != 0,
		drainTicks: 1 + int(flags>>4&3),
		oldAfter:   1 + int(timing>>12&3),
		errRate:    []float64{0, 0, 0.01, 0.3}[flags>>2&3],
		budget:     3000,
	}
	if len(behaviours) > 0 {
		// One byte per new instance, cycling: the low two bits the kind,
		// then the ticks until healthy, then (flapping) how long it stays so.
		cfg.newB = func(serial int) simBehaviour {
			c := behaviours[(serial-1)%len(behaviours)]
			b := simBehaviour{kind: simKind(c & 3), after: int(c >> 2 & 7)}
			b.until = b.after + 1 + int(c>>5)
			return b
		}
	}
	return sp, cfg
}

func checkRollout(t *testing.T, r *simResult, cfg simConfig, k int) {
	t.Helper()
	s, want := cfg.s, cfg.want
	prevWeight := 0 // the canary weight in force when a step observed the world
	for _, st := range r.steps {
		after := countWorld(st.after, st.weight)
		if after.new > want {
			t.Fatalf("tick %d: %d new instances run, more than the %d declared; decisions:\n%s", st.tick, after.new, want, lastSteps(r, 20))
		}
		if after.old > want {
			t.Fatalf("tick %d: %d old instances run, more than the %d declared; decisions:\n%s", st.tick, after.old, want, lastSteps(r, 20))
		}
		if st.d.StartNew > 0 && st.d.Progress.Phase == PhaseRolling && cfg.hasOld {
			notReady := 0
			for _, in := range st.after {
				settled := in.healthy && st.now.Sub(in.ready) >= s.MinHealthyTime
				if !in.draining && !in.old && !settled {
					notReady++
				}
			}
			if notReady > k {
				t.Fatalf("tick %d: started %d, leaving %d new instances not ready, more than max_in_flight %d; decisions:\n%s",
					st.tick, st.d.StartNew, notReady, k, lastSteps(r, 20))
			}
		}
		if s.Kind != paved.StrategyRecreate && cfg.hasOld {
			beforeRouted := countWorld(st.before, prevWeight).healthyRouted
			if floor := min(beforeRouted, want); after.healthyRouted < floor {
				t.Fatalf("tick %d (%s→%s): the decision takes serving capacity from %d to %d healthy routed instances (declared %d): stop %v, roles %v, weight %d; decisions:\n%s",
					st.tick, st.in.Phase, st.d.Progress.Phase, beforeRouted, after.healthyRouted, want, st.d.Stop, st.d.Roles, st.d.Weight, lastSteps(r, 20))
			}
		}
		prevWeight = st.weight
	}
	end := countWorld(r.world.snapshot(), r.world.weight)
	switch r.outcome {
	case Succeeded:
		if end.new != want || end.newHealthy != want || end.old != 0 {
			t.Fatalf("succeeded with %+v, want exactly %d healthy new instances; decisions:\n%s", end, want, lastSteps(r, 20))
		}
	case RolledBack:
		if cfg.hasOld && (end.old != want || end.oldHealthy != want || end.new != 0) {
			t.Fatalf("rolled back with %+v, want exactly %d healthy old instances; decisions:\n%s", end, want, lastSteps(r, 20))
		}
	case Failed:
		// Stopped where it was, by design only when there is no rollback to
		// make (auto_rollback off, or no previous release), or when the
		// rollback itself ran out of its progress deadline.
		if s.AutoRollback && cfg.hasOld {
			last := r.steps[len(r.steps)-1]
			if last.in.Phase != PhaseRollingBack || !strings.Contains(r.final.Reason, "the rollback did not complete either") {
				t.Fatalf("failed in phase %s (%q) with auto_rollback and a previous release: want rolled_back, or a rollback that timed out; decisions:\n%s",
					last.in.Phase, r.final.Reason, lastSteps(r, 20))
			}
		}
		return
	}
	for _, in := range r.world.live() {
		if in.role != RoleActive {
			t.Fatalf("%s ended %s with role %s, want active", in.id, r.outcome, in.role)
		}
	}
	if r.world.weight != 0 {
		t.Fatalf("ended %s with canary weight %d", r.outcome, r.world.weight)
	}
}
