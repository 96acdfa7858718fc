package deploy

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// This file is the rollout planner: a pure function from (strategy, where
// the deployment is, what is running) to what to do next. It performs no
// I/O and reads no clock, so every strategy is tested exhaustively without
// processes (planner_test.go), the way Nomad tests its scheduler.

// Role is how the router treats an instance.
type Role int

const (
	RoleStandby Role = iota // running but not routed (blue-green's new set before the switch)
	RoleActive              // balanced with the app's other active instances
	RoleCanary              // in the canary group, which gets a traffic weight
)

func (r Role) String() string {
	return [...]string{"standby", "active", "canary"}[r]
}

// Deployment phases.
const (
	PhaseStarting    = "starting"     // bringing up new instances (a step's canaries, a blue-green set, a recreate)
	PhaseWatching    = "watching"     // canaries take traffic under the health gate
	PhaseRolling     = "rolling"      // replacing old instances, max_in_flight at a time
	PhaseKeeping     = "keeping"      // blue-green switched; the old set is kept for keep_old
	PhaseRollingBack = "rolling_back" // returning to the previous release
	PhaseDone        = "done"
)

// Inst is one instance as the planner sees it.
type Inst struct {
	ID         string
	Healthy    bool
	ReadySince time.Time // when it last turned healthy; zero if not healthy
	Crashes    int
	LastExit   string
	Role       Role
}

// Window counts canary requests at the router since the step's watch began.
type Window struct {
	Requests, Errors int64
}

// Progress is the persisted position of a deployment.
type Progress struct {
	Phase        string    `json:"phase"`
	Step         int       `json:"step"`
	StepStarted  time.Time `json:"step_started"`
	LastProgress time.Time `json:"last_progress"`
	Ready        int       `json:"ready"`            // new instances ready at the last plan, to notice progress
	Reason       string    `json:"reason,omitempty"` // why it is rolling back
	// Superseded rollbacks end once the new instances are gone: the next
	// deployment takes over from whatever the old release has running.
	Superseded bool `json:"superseded,omitempty"`
}

// Observation is what runs now.
type Observation struct {
	Now       time.Time
	Want      int    // instances the app declares
	HasOld    bool   // a previous release exists to fall back to
	Old       []Inst // instances of other releases
	New       []Inst // instances of the release being deployed
	Canary    Window
	CrashLoop int // crashes of one new instance that fail the deployment
	Stopping  int // instances of the app still draining or stopping
}

// Outcome ends a deployment.
type Outcome string

const (
	Continue   Outcome = ""
	Succeeded  Outcome = "succeeded"
	Failed     Outcome = "failed"      // stopped where it is (auto_rollback off, or nothing to roll back to)
	RolledBack Outcome = "rolled_back" // back on the previous release
)

// Decision is what to do next.
type Decision struct {
	StartNew  int             // new instances of the release to start, with StartRole
	StartRole Role            //
	StartOld  int             // instances of the previous release to start (rolling back)
	Stop      []string        // instances to drain and stop
	Roles     map[string]Role // routing role of every instance that stays
	Weight    int             // percent of traffic for the canary group (0 = none)
	Progress  Progress
	Outcome   Outcome
	Reason    string // why it failed, one sentence
	Note      string // a phase change worth an event, or ""
}

// Plan decides the next step of a deployment.
func Plan(s Strategy, p Progress, o Observation) Decision {
	d := Decision{Progress: p, Roles: map[string]Role{}}
	for _, in := range o.Old {
		d.Roles[in.ID] = in.Role
	}
	for _, in := range o.New {
		d.Roles[in.ID] = in.Role
	}
	if d.Progress.Phase == "" {
		d.Progress = Progress{Phase: firstPhase(s, o), LastProgress: o.Now, StepStarted: o.Now}
	}
	if d.Progress.Phase != PhaseRollingBack && d.Progress.Phase != PhaseDone {
		if reason := failure(s, d.Progress, o); reason != "" {
			return fail(s, d, o, reason)
		}
	}
	if d.Progress.Phase == PhaseRollingBack && o.Now.After(d.Progress.LastProgress.Add(s.ProgressDeadline)) {
		// The old release does not come back either: stop trying, so the
		// app is not stuck here and a fix can be deployed.
		d.Outcome, d.Progress.Phase = Failed, PhaseDone
		d.Reason = fmt.Sprintf("%s; the rollback did not complete either: %d of %d instances of the previous release healthy within %s",
			d.Progress.Reason, countHealthy(o.Old), o.Want, s.ProgressDeadline)
		return d
	}
	switch d.Progress.Phase {
	case PhaseRolling:
		planRolling(s, &d, o)
	case PhaseStarting:
		switch s.Kind {
		case paved.StrategyCanary:
			planCanaryStart(s, &d, o)
		case paved.StrategyBlueGreen:
			planBlueGreenStart(&d, o)
		case paved.StrategyRecreate:
			planRecreate(&d, o)
		default:
			d.Progress.Phase = PhaseRolling
			planRolling(s, &d, o)
		}
	case PhaseWatching:
		planCanaryWatch(s, &d, o)
	case PhaseKeeping:
		planKeeping(s, &d, o)
	case PhaseRollingBack:
		planRollback(&d, o)
	case PhaseDone:
		d.Outcome = Succeeded
	}
	return d
}

// Rollback turns a deployment toward the previous release (a superseded
// deployment takes this path too).
func Rollback(p Progress, reason string, now time.Time) Progress {
	p.Phase = PhaseRollingBack
	p.LastProgress = now
	p.Reason = reason
	p.Ready = 0 // from here on, progress is the old release coming back
	return p
}

func firstPhase(s Strategy, o Observation) string {
	if !o.HasOld {
		return PhaseRolling // a first deploy has nothing to protect: just start it
	}
	if s.Kind == paved.StrategyRolling || s.Kind == "" {
		return PhaseRolling
	}
	return PhaseStarting
}

// failure finds a reason to give up: a crash-looping new instance, or no
// progress within the deadline.
func failure(s Strategy, p Progress, o Observation) string {
	for _, in := range o.New {
		if o.CrashLoop > 0 && in.Crashes >= o.CrashLoop {
			return fmt.Sprintf("instance %s crashed %d times (last exit: %s)", in.ID, in.Crashes, in.LastExit)
		}
	}
	deadline := p.LastProgress.Add(s.ProgressDeadline)
	switch p.Phase {
	case PhaseWatching:
		deadline = p.StepStarted.Add(watchOf(s, p.Step) + s.ProgressDeadline)
	case PhaseKeeping:
		deadline = p.StepStarted.Add(s.KeepOld + s.ProgressDeadline)
	}
	if o.Now.After(deadline) {
		if p.Phase == PhaseWatching {
			return fmt.Sprintf("the canary saw only %d requests (min_requests %d) by the %s progress deadline, so its health gate was inconclusive",
				o.Canary.Requests, s.MinRequests, s.ProgressDeadline)
		}
		return fmt.Sprintf("no progress within the %s progress deadline: %d of %d new instances healthy",
			s.ProgressDeadline, countHealthy(o.New), o.Want)
	}
	return ""
}

func fail(s Strategy, d Decision, o Observation, reason string) Decision {
	d.Reason = reason
	if s.AutoRollback && o.HasOld {
		d.Progress = Rollback(d.Progress, reason, o.Now)
		d.Note = "rolling back: " + reason
		planRollback(&d, o)
		return d
	}
	d.Outcome = Failed
	d.Progress.Phase = PhaseDone
	d.Weight = 0
	return d
}

// planRolling replaces old instances max_in_flight at a time, never letting
// ready + old fall below the declared count.
func planRolling(s Strategy, d *Decision, o Observation) {
	k := len(o.New) + o.Want // a first deploy starts everything at once
	if o.HasOld {
		var err error
		if k, err = paved.ParseMaxInFlight(s.MaxInFlight, o.Want); err != nil {
			k = 1 // a spec stored before the grammar was strict ("02", " 2") still progresses
		}
	}
	ready := readyOnes(o.New, s.MinHealthyTime, o.Now)
	notReady := len(o.New) - len(ready)
	if len(o.New) < o.Want {
		d.StartNew = max(0, min(k-notReady, o.Want-len(o.New)))
		d.StartRole = RoleActive
	}
	for _, in := range o.New {
		d.Roles[in.ID] = RoleActive
	}
	for _, in := range o.Old {
		d.Roles[in.ID] = RoleActive
	}
	keepOld := max(0, o.Want-len(ready))
	d.Stop = append(d.Stop, leastUseful(o.Old, len(o.Old)-keepOld)...)
	d.Stop = append(d.Stop, leastUseful(o.New, len(o.New)-o.Want)...)
	d.Weight = 0
	markProgress(d, len(ready), o.Now)
	if len(ready) >= o.Want { // every old instance is in Stop by now
		d.Outcome = Succeeded
		d.Progress.Phase = PhaseDone
	}
}

// canaryShape is how many canaries a step runs, with which role and weight.
func canaryShape(step paved.CanaryStep, want int) (count int, role Role, weight int) {
	if step.Weight > 0 {
		return max(1, int(math.Ceil(float64(want)*float64(step.Weight)/100))), RoleCanary, step.Weight
	}
	return step.Instances, RoleActive, 0
}

func planCanaryStart(s Strategy, d *Decision, o Observation) {
	step := s.Steps[d.Progress.Step]
	count, role, weight := canaryShape(step, o.Want)
	if len(o.New) < count {
		d.StartNew, d.StartRole = count-len(o.New), role
	}
	d.Stop = leastUseful(o.New, len(o.New)-count)
	for _, in := range o.New {
		d.Roles[in.ID] = role
	}
	for _, in := range o.Old {
		d.Roles[in.ID] = RoleActive
	}
	d.Weight = weight
	if countHealthy(o.New) >= count {
		d.Progress.Phase = PhaseWatching
		d.Progress.StepStarted = o.Now
		d.Progress.LastProgress = o.Now
		d.Note = fmt.Sprintf("canary step %d of %d: %d canary instance(s) healthy%s, watching for %s",
			d.Progress.Step+1, len(s.Steps), count, weightNote(weight), step.Watch)
	}
}

func weightNote(w int) string {
	if w == 0 {
		return ""
	}
	return fmt.Sprintf(" taking %d%% of traffic", w)
}

func watchOf(s Strategy, step int) time.Duration {
	if step < len(s.Steps) {
		return s.Steps[step].Watch.D()
	}
	return 0
}

// planCanaryWatch is the health gate: every canary healthy, and the error
// rate at the router under max_error_rate once min_requests are seen.
func planCanaryWatch(s Strategy, d *Decision, o Observation) {
	step := s.Steps[d.Progress.Step]
	count, role, weight := canaryShape(step, o.Want)
	d.Weight = weight
	for _, in := range o.New {
		d.Roles[in.ID] = role
	}
	if len(o.New) < count {
		// A canary vanished (the cell restarted): bring the step up again.
		d.Progress.Phase = PhaseStarting
		d.Progress.LastProgress = o.Now
		planCanaryStart(s, d, o)
		return
	}
	for _, in := range o.New {
		if !in.Healthy {
			*d = fail(s, *d, o, fmt.Sprintf("canary instance %s failed its health check during step %d", in.ID, d.Progress.Step+1))
			return
		}
	}
	w := o.Canary
	if w.Requests >= int64(s.MinRequests) && w.Requests > 0 {
		rate := float64(w.Errors) / float64(w.Requests)
		if rate > s.MaxErrorRate {
			*d = fail(s, *d, o, fmt.Sprintf("the canary's error rate was %.1f%% (%d of %d requests failed) at step %d, above max_error_rate %.1f%%",
				rate*100, w.Errors, w.Requests, d.Progress.Step+1, s.MaxErrorRate*100))
			return
		}
	}
	if o.Now.Sub(d.Progress.StepStarted) < step.Watch.D() || w.Requests < int64(s.MinRequests) {
		return // still watching, or inconclusive: keep waiting up to the deadline
	}
	d.Progress.Step++
	d.Progress.LastProgress = o.Now
	d.Progress.StepStarted = o.Now
	if d.Progress.Step < len(s.Steps) {
		d.Progress.Phase = PhaseStarting
		d.Note = fmt.Sprintf("canary step %d passed: %d requests, %d errors", d.Progress.Step, w.Requests, w.Errors)
		return
	}
	d.Progress.Phase = PhaseRolling
	d.Note = fmt.Sprintf("canary passed all %d steps (%d requests, %d errors at the last); rolling out the rest", len(s.Steps), w.Requests, w.Errors)
	d.Weight = 0
	for _, in := range o.New {
		d.Roles[in.ID] = RoleActive
	}
}

// planBlueGreenStart starts a full set that takes no traffic, then switches
// every route to it at once.
func planBlueGreenStart(d *Decision, o Observation) {
	if len(o.New) < o.Want {
		d.StartNew, d.StartRole = o.Want-len(o.New), RoleStandby
	}
	for _, in := range o.New {
		d.Roles[in.ID] = RoleStandby
	}
	for _, in := range o.Old {
		d.Roles[in.ID] = RoleActive
	}
	healthy := countHealthy(o.New)
	markProgress(d, healthy, o.Now)
	if healthy >= o.Want {
		for _, in := range o.New {
			d.Roles[in.ID] = RoleActive
		}
		for _, in := range o.Old {
			d.Roles[in.ID] = RoleStandby
		}
		d.Progress.Phase = PhaseKeeping
		d.Progress.StepStarted = o.Now
		d.Progress.LastProgress = o.Now
		d.Note = fmt.Sprintf("switched all traffic to the %d new instances", o.Want)
	}
}

func planKeeping(s Strategy, d *Decision, o Observation) {
	if len(o.New) < o.Want {
		// New instances vanished (the cell restarted): the old release
		// serves again while the new set comes back up, then switch again.
		d.Progress.Phase = PhaseStarting
		d.Progress.LastProgress = o.Now
		d.Progress.Ready = 0
		planBlueGreenStart(d, o)
		return
	}
	if healthy := countHealthy(o.New); healthy < o.Want {
		*d = fail(s, *d, o, fmt.Sprintf("only %d of %d new instances stayed healthy after the switch", healthy, o.Want))
		return
	}
	for _, in := range o.New {
		d.Roles[in.ID] = RoleActive
	}
	for _, in := range o.Old {
		d.Roles[in.ID] = RoleStandby
	}
	if o.Now.Sub(d.Progress.StepStarted) >= s.KeepOld {
		d.Stop = ids(o.Old)
		d.Outcome = Succeeded
		d.Progress.Phase = PhaseDone
	}
}

// planRecreate stops everything old, then starts the new set.
func planRecreate(d *Decision, o Observation) {
	if len(o.Old) > 0 || (len(o.New) == 0 && o.Stopping > 0) {
		d.Stop = ids(o.Old) // and wait until they are gone: never old and new at once
		return
	}
	if len(o.New) < o.Want {
		d.StartNew, d.StartRole = o.Want-len(o.New), RoleActive
	}
	for _, in := range o.New {
		d.Roles[in.ID] = RoleActive
	}
	healthy := countHealthy(o.New)
	markProgress(d, healthy, o.Now)
	if healthy >= o.Want {
		d.Outcome = Succeeded
		d.Progress.Phase = PhaseDone
	}
}

// planRollback stops the new release and makes sure the previous one runs
// at full count and takes all traffic.
func planRollback(d *Decision, o Observation) {
	d.Reason = d.Progress.Reason
	d.Weight = 0
	for _, in := range o.Old {
		d.Roles[in.ID] = RoleActive
	}
	// Healthy new instances keep serving until the old release is back at
	// full strength, so a rollback never drops capacity; broken ones go now.
	// A superseded rollout just clears the way for the next one, which
	// starts from whatever the old release has running.
	oldReady := countHealthy(o.Old) >= o.Want || d.Progress.Superseded
	for _, in := range o.New {
		if oldReady || !in.Healthy || in.Role == RoleCanary || !o.HasOld {
			d.Stop = append(d.Stop, in.ID)
		} else {
			d.Roles[in.ID] = RoleActive
		}
	}
	if !o.HasOld || d.Progress.Superseded && len(o.New) == 0 {
		// Nothing older exists (a superseded first deploy), or a newer
		// deployment takes over: stopping the new instances is all.
		d.Outcome = RolledBack
		d.Progress.Phase = PhaseDone
		return
	}
	markProgress(d, countHealthy(o.Old), o.Now)
	if len(o.Old) < o.Want && !d.Progress.Superseded {
		d.StartOld = o.Want - len(o.Old)
	}
	if len(o.New) == 0 && countHealthy(o.Old) >= o.Want {
		d.Outcome = RolledBack
		d.Progress.Phase = PhaseDone
	}
}

func markProgress(d *Decision, ready int, now time.Time) {
	if ready > d.Progress.Ready {
		d.Progress.LastProgress = now
	}
	d.Progress.Ready = ready
}

func readyOnes(ins []Inst, minHealthy time.Duration, now time.Time) []Inst {
	var out []Inst
	for _, in := range ins {
		if in.Healthy && !in.ReadySince.IsZero() && now.Sub(in.ReadySince) >= minHealthy {
			out = append(out, in)
		}
	}
	return out
}

func countHealthy(ins []Inst) int {
	n := 0
	for _, in := range ins {
		if in.Healthy {
			n++
		}
	}
	return n
}

// leastUseful picks n instances to stop: unhealthy first, then the most crashed.
func leastUseful(ins []Inst, n int) []string {
	if n <= 0 {
		return nil
	}
	sorted := slices.Clone(ins)
	slices.SortStableFunc(sorted, func(a, b Inst) int {
		if a.Healthy != b.Healthy {
			if a.Healthy {
				return 1
			}
			return -1
		}
		return b.Crashes - a.Crashes
	})
	return ids(sorted[:min(n, len(sorted))])
}

func ids(ins []Inst) []string {
	out := make([]string, 0, len(ins))
	for _, in := range ins {
		out = append(out, in.ID)
	}
	return out
}
