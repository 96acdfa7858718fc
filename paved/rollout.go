package paved

import (
	"context"
	"fmt"
	"time"
)

// Rollout verdicts: how the change a front end applied ended. Every front
// end (the provider, the Pulumi plugin, the CLI, a pipeline's deploy step,
// a replica set's region) judges a rollout by WaitRollout, so "did it
// work?" has one answer.
const (
	// RolloutSucceeded: the app is running (or stopped, at 0 instances) at
	// its newest spec.
	RolloutSucceeded = "succeeded"
	// RolloutDegraded: the change rolled out (its deployment succeeded, or
	// it needed none), but the app is degraded or crashing now, after the
	// grace a slow start is given.
	RolloutDegraded = "degraded"
	// RolloutFailed: the build failed, or the deployment failed and
	// stopped where it was (auto_rollback off).
	RolloutFailed = "failed"
	// RolloutRolledBack: the deployment failed and the cell returned to
	// the last good release, which serves.
	RolloutRolledBack = "rolled_back"
)

// DefaultDegradedGrace is how long WaitRollout lets an app that settled
// "degraded" become running before it calls the rollout degraded: a
// scale-up settles degraded until its new instances pass their checks.
const DefaultDegradedGrace = 90 * time.Second

// Rollout is the verdict on the rollout of an app's newest spec.
type Rollout struct {
	Verdict string // RolloutSucceeded, RolloutDegraded, RolloutFailed or RolloutRolledBack
	// Reason says why, when the verdict is not RolloutSucceeded: the
	// cell's message (which names the release and the check that failed).
	Reason string
	// App is the app as last seen.
	App *App
	// Deployment is the deployment of the newest spec; nil when the spec
	// needed none (a scale change) or never got one (a failed build).
	Deployment *Deployment
}

// Succeeded reports whether the app runs the change as asked.
func (r Rollout) Succeeded() bool { return r.Verdict == RolloutSucceeded }

// RolledOut reports whether the change itself rolled out, even when an
// instance has crashed since: what a pipeline's deploy step asks.
func (r Rollout) RolledOut() bool {
	return r.Verdict == RolloutSucceeded || r.Verdict == RolloutDegraded
}

// Err is nil for a rollout that succeeded and a *RolloutError otherwise.
func (r Rollout) Err() error {
	if r.Succeeded() {
		return nil
	}
	return &RolloutError{Rollout: r}
}

// RolloutError is a rollout that did not succeed.
type RolloutError struct{ Rollout Rollout }

func (e *RolloutError) Error() string {
	a := e.Rollout.App
	what := map[string]string{
		RolloutFailed:     "failed",
		RolloutRolledBack: "was rolled back",
		RolloutDegraded:   "left the app " + a.Status,
	}[e.Rollout.Verdict]
	msg := fmt.Sprintf("rollout of %s/%s %s", a.Space, a.Name, what)
	if e.Rollout.Reason != "" {
		msg += ": " + e.Rollout.Reason
	}
	return msg
}

// RolloutOptions tunes WaitRollout.
type RolloutOptions struct {
	// Progress, when set, sees every poll of the app.
	Progress func(*App)
	// DegradedGrace is how long a degraded app may take to become running
	// (default DefaultDegradedGrace; negative = none).
	DegradedGrace time.Duration
}

// WaitRollout waits until the app has settled at its newest spec (see
// Apps.Wait), gives a degraded app its grace, and judges the rollout. The
// error is only for what kept it from judging (the context ended, the cell
// could not be read); the Rollout, when not nil, has the app as last seen.
func WaitRollout(ctx context.Context, c *Client, space, name string, opts RolloutOptions) (*Rollout, error) {
	var last *App // the app as last seen, for when a read is what the deadline cut
	a, err := c.Apps.Wait(ctx, space, name, func(a *App) {
		last = a
		if opts.Progress != nil {
			opts.Progress(a)
		}
	})
	if err != nil {
		if a == nil {
			a = last
		}
		if a == nil {
			return nil, err
		}
		return &Rollout{Verdict: RolloutFailed, Reason: "status " + a.Status, App: a}, err
	}
	grace := opts.DegradedGrace
	if grace == 0 {
		grace = DefaultDegradedGrace
	}
	if a.Status == AppDegraded && grace > 0 {
		if a, err = waitPastDegraded(ctx, c, a, grace, opts.Progress); err != nil {
			return &Rollout{Verdict: RolloutDegraded, Reason: a.Message, App: a}, err
		}
	}
	var deps []Deployment
	if a.Status != AppRunning && a.Status != AppStopped {
		// The deployments only tell a rollback from a failure; the app's
		// status and message already say what is wrong, so a cell that
		// cannot list them still gets a verdict.
		deps, _ = c.Deployments.List(ctx, space, name)
	}
	r := JudgeRollout(a, deps)
	return &r, nil
}

// waitPastDegraded polls a degraded app until it is something else or the
// grace ends; an ended context ends the wait with the app as last seen.
func waitPastDegraded(ctx context.Context, c *Client, a *App, grace time.Duration, progress func(*App)) (*App, error) {
	deadline := time.Now().Add(grace)
	t := time.NewTicker(c.pollInterval)
	defer t.Stop()
	for a.Status == AppDegraded && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return a, nil // the verdict says degraded; the caller's deadline was the limit
		case <-t.C:
		}
		next, err := c.Apps.Get(ctx, a.Space, a.Name)
		if err != nil {
			return a, err
		}
		if progress != nil {
			progress(next)
		}
		a = next
	}
	return a, nil
}

// JudgeRollout is the verdict on a settled app, given its deployments
// (newest first, as Deployments.List returns them; only needed when the
// app is not running or stopped). The deployment of the app's newest spec
// is the newest one started since the spec changed.
func JudgeRollout(a *App, deps []Deployment) Rollout {
	r := Rollout{App: a, Verdict: RolloutSucceeded}
	since := a.UpdatedAt.Truncate(time.Second) // the store may keep whole seconds
	for i := range deps {
		if !deps[i].StartedAt.Before(since) {
			r.Deployment = &deps[i]
			break
		}
	}
	if a.Status == AppRunning || a.Status == AppStopped {
		return r
	}
	r.Reason = a.Message
	if r.Reason == "" {
		r.Reason = "status " + a.Status
	}
	switch d := r.Deployment; {
	case d != nil && d.Status == DeploymentRolledBack:
		r.Verdict = RolloutRolledBack
	case d != nil && d.Status == DeploymentFailed, a.Status == AppFailed:
		r.Verdict = RolloutFailed
	default:
		r.Verdict = RolloutDegraded
	}
	if r.Deployment != nil && a.Message == "" && r.Deployment.Reason != "" {
		r.Reason = r.Deployment.Reason
	}
	return r
}
