package deploy

import (
	"maps"
	"reflect"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// releaseConfig is the part of a spec that a release freezes.
func releaseConfig(spec paved.AppSpec, droplet string) paved.ReleaseConfig {
	return paved.ReleaseConfig{
		Droplet:   droplet,
		Source:    spec.Source,
		Build:     spec.Build,
		Command:   spec.Command,
		Env:       maps.Clone(spec.Env),
		SecretEnv: maps.Clone(spec.SecretEnv),
		MemoryMB:  spec.MemoryMB,
		// As declared: defaults are applied where checks run, so a release
		// reads back exactly as it was written.
		HealthCheck: spec.HealthCheck,
	}
}

// sameConfig tells whether two release configs run the same way; a spec
// change that keeps it (instances, routes) needs no new release.
func sameConfig(a, b paved.ReleaseConfig) bool {
	if len(a.Env) == 0 && len(b.Env) == 0 {
		a.Env, b.Env = nil, nil
	}
	if len(a.SecretEnv) == 0 && len(b.SecretEnv) == 0 {
		a.SecretEnv, b.SecretEnv = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// scalePlan says which instances to start and stop so that exactly want
// instances of release run. have lists the app's live instances.
type scalePlan struct {
	start int      // new instances of the release to start
	stop  []string // instance IDs to stop
}

type liveInstance struct {
	id           string
	release      int
	healthy      bool
	healthySince time.Time
	role         Role
	crashes      int
	lastExit     string
}

// planScale is pure: it keeps the healthiest instances of the release,
// and stops every instance of another release that is not part of a
// rollout in progress (keep).
func planScale(have []liveInstance, release, want int, keep map[int]bool) scalePlan {
	var mine []Inst
	var p scalePlan
	for _, in := range have {
		switch {
		case in.release == release:
			mine = append(mine, in.inst())
		case !keep[in.release]:
			p.stop = append(p.stop, in.id)
		}
	}
	if len(mine) < want {
		p.start = want - len(mine)
		return p
	}
	p.stop = append(p.stop, leastUseful(mine, len(mine)-want)...)
	return p
}

// inst is the planner's view of a live instance.
func (in liveInstance) inst() Inst {
	return Inst{ID: in.id, Healthy: in.healthy, ReadySince: in.healthySince, Crashes: in.crashes, LastExit: in.lastExit, Role: in.role}
}

// appStatus summarises an app's instances for users.
func appStatus(want int, mine []liveInstance, crashing bool) string {
	if want == 0 {
		return paved.AppStopped
	}
	healthy := 0
	for _, in := range mine {
		if in.healthy {
			healthy++
		}
	}
	switch {
	case healthy >= want:
		return paved.AppRunning
	case crashing:
		return paved.AppCrashing
	default:
		return paved.AppDegraded
	}
}
