package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// This file executes deployments: observe what runs, ask the planner what to
// do, do it, persist where the deployment is, repeat.

// resume continues a deployment the cell was running when it stopped. Every
// instance died with the cell, so the serving release comes back first at
// full count, then the deployment starts over from its first step (a
// rollback in progress carries on rolling back).
func (d *Deployer) resume(ctx context.Context, c *controller, rec store.App) store.AppState {
	st := rec.State
	dep, err := d.opts.Store.GetDeployment(ctx, st.Deployment)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return st // a passing error: try again on the next pass
	}
	if err != nil || dep.Status != paved.DeploymentRunning {
		st.Deployment = 0
		d.save(ctx, c, st, nil)
		return st
	}
	if dep.From > 0 {
		if err := d.scale(ctx, c, dep.From, dep.Instances, dep.Release); err != nil {
			d.log.Error("resume: restart the serving release", "app", Key(c.space, c.name), "err", err)
		}
	}
	p := d.progressOf(dep)
	next := Progress{}
	if p.Phase == PhaseRollingBack {
		next = Rollback(next, "", time.Now())
	}
	dep.Phase, dep.Step = phaseOr(next.Phase), 0
	dep.Progress = mustJSON(next)
	note := fmt.Sprintf("resumed after a cell restart (it was %s at step %d); release %d serves meanwhile", phaseOr(p.Phase), p.Step+1, dep.From)
	if err := d.opts.Store.UpdateDeployment(ctx, dep, note); err != nil && ctx.Err() == nil {
		d.log.Error("save deployment", "deployment", dep.ID, "err", err)
	}
	d.note(Key(c.space, c.name), fmt.Sprintf("deployment %d %s", dep.ID, note))
	return d.runDeployment(ctx, c, dep, st)
}

// progressOf decodes a deployment's saved progress. An unreadable one is
// logged and the deployment starts over, as from the zero Progress.
func (d *Deployer) progressOf(dep store.Deployment) Progress {
	var p Progress
	if dep.Progress == "" {
		return p
	}
	if err := json.Unmarshal([]byte(dep.Progress), &p); err != nil {
		d.log.Error("read deployment progress", "deployment", dep.ID, "err", err)
		return Progress{}
	}
	return p
}

func phaseOr(p string) string {
	if p == "" {
		return PhaseStarting
	}
	return p
}

// runDeployment drives one deployment to its end. It returns early only
// when the cell shuts down; the persisted progress lets the next start resume.
func (d *Deployer) runDeployment(ctx context.Context, c *controller, dep store.Deployment, st store.AppState) store.AppState {
	key := Key(c.space, c.name)
	s := Resolve(&dep.Strategy)
	p := d.progressOf(dep)
	var stops sync.WaitGroup
	baseline := map[time.Time]Window{}
	superseded := false
	tick := time.NewTicker(d.opts.Tick)
	defer tick.Stop()
	lastCheck := time.Time{}
	for {
		now := time.Now()
		if !superseded && p.Phase != PhaseRollingBack && now.Sub(lastCheck) > 250*time.Millisecond {
			lastCheck = now
			rec, err := d.opts.Store.GetApp(ctx, c.space, c.name)
			switch {
			case errors.Is(err, store.ErrNotFound) || err == nil && !rec.CreatedAt.Equal(c.created):
				// The app was deleted: its controller stops everything.
				dep.Status, dep.Reason = paved.DeploymentSuperseded, "the app was deleted"
				d.persist(ctx, &dep, p, "the app was deleted during the rollout")
				return st
			case err == nil && rec.Generation > dep.Generation:
				superseded = true
				p = Rollback(p, "superseded by a newer change", now)
				p.Superseded = true
				d.persist(ctx, &dep, p, "superseded by a newer change of the app; rolling back before deploying it")
			}
		}
		obs, err := d.observe(c, dep, p, baseline, now)
		if err != nil {
			d.log.Error("observe deployment", "deployment", dep.ID, "err", err)
		}
		dec := Plan(s, p, obs)
		if err := d.execute(ctx, c, dep, s, dec, &stops); err != nil {
			// Keep going: an instance that failed to start is simply missing
			// at the next observation, and the deadline bounds the retries.
			d.log.Error("execute deployment", "deployment", dep.ID, "err", err)
		}
		if dec.Progress != p || dec.Note != "" {
			if dec.Note != "" {
				d.note(key, fmt.Sprintf("deployment %d: %s", dep.ID, dec.Note))
			}
			p = dec.Progress
			if dec.Outcome == Continue {
				d.persist(ctx, &dep, p, dec.Note)
			}
		}
		if dec.Outcome != Continue {
			stops.Wait()
			return d.finishDeployment(ctx, c, dep, st, p, dec, superseded)
		}
		select {
		case <-ctx.Done():
			return st
		case <-tick.C:
		}
	}
}

// persist saves a deployment's progress with an optional event note.
func (d *Deployer) persist(ctx context.Context, dep *store.Deployment, p Progress, note string) {
	dep.Phase, dep.Step, dep.Progress = p.Phase, p.Step, mustJSON(p)
	if err := d.opts.Store.UpdateDeployment(context.WithoutCancel(ctx), *dep, note); err != nil {
		d.log.Error("save deployment", "deployment", dep.ID, "err", err)
	}
}

// observe gathers what the planner needs: the app's instances split by
// release, and the canaries' requests and errors at the router since the
// current watch began.
func (d *Deployer) observe(c *controller, dep store.Deployment, p Progress, baseline map[time.Time]Window, now time.Time) (Observation, error) {
	o := Observation{Now: now, Want: dep.Instances, HasOld: dep.From > 0, CrashLoop: d.opts.CrashLoop,
		Stopping: d.stopping(Key(c.space, c.name))}
	for _, in := range d.live(Key(c.space, c.name)) {
		x := in.inst()
		if in.release == dep.Release {
			o.New = append(o.New, x)
		} else {
			o.Old = append(o.Old, x)
		}
	}
	var w Window
	for _, in := range o.New {
		st := d.opts.Router.Stats(in.ID)
		w.Requests += st.Requests
		w.Errors += st.Responses5xx + st.FailedConnects
	}
	if p.Phase == PhaseWatching {
		base, ok := baseline[p.StepStarted]
		if !ok {
			baseline[p.StepStarted] = w
			base = w
		}
		o.Canary = Window{Requests: w.Requests - base.Requests, Errors: w.Errors - base.Errors}
	}
	return o, nil
}

// execute carries out a decision: starts, routing roles and weight in one
// router update, then drains and stops in the background.
func (d *Deployer) execute(ctx context.Context, c *controller, dep store.Deployment, s Strategy, dec Decision, stops *sync.WaitGroup) error {
	var firstErr error
	if dec.StartNew > 0 {
		cfg, err := d.config(ctx, c, dep.Release)
		if err != nil {
			return err
		}
		for range dec.StartNew {
			if _, err := d.startInstance(c, dep.Release, cfg, dec.StartRole); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	if dec.StartOld > 0 && dep.From > 0 {
		cfg, err := d.config(ctx, c, dep.From)
		if err != nil {
			return err
		}
		for range dec.StartOld {
			if _, err := d.startInstance(c, dep.From, cfg, RoleActive); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	d.setRoles(c, dec.Roles, dec.Weight)
	d.stopAsync(ctx, dec.Stop, s.DrainTimeout, stops)
	return firstErr
}

// finishDeployment records how a deployment ended, on the deployment, the
// release and the app.
func (d *Deployer) finishDeployment(ctx context.Context, c *controller, dep store.Deployment, st store.AppState, p Progress, dec Decision, superseded bool) store.AppState {
	ctx = context.WithoutCancel(ctx)
	key := Key(c.space, c.name)
	rel := dep.Release
	st.Deployment = 0
	var note string
	switch {
	case superseded:
		dep.Status = paved.DeploymentSuperseded
		note = fmt.Sprintf("superseded: release %d stopped, release %d serves", rel, dep.From)
		d.setReleaseStatus(ctx, c, rel, paved.ReleaseSuperseded, "a newer change replaced it before its rollout finished")
		st.TargetRelease = 0
		// ObservedGeneration stays behind: the next pass deploys the newer change.
	case dec.Outcome == Succeeded:
		dep.Status = paved.DeploymentSucceeded
		note = fmt.Sprintf("release %d is live on %d instance(s)", rel, dep.Instances)
		st.Release, st.TargetRelease = rel, 0
		if dep.Instances > 0 {
			d.healthy(ctx, c, &st, rel)
		}
		st.ObservedGeneration = dep.Generation
	case dec.Outcome == RolledBack:
		dep.Status, dep.Reason = paved.DeploymentRolledBack, dec.Reason
		note = fmt.Sprintf("rolled back to release %d: %s", dep.From, dec.Reason)
		d.setReleaseStatus(ctx, c, rel, paved.ReleaseFailed, dec.Reason)
		st.TargetRelease = 0
		st.Failure = fmt.Sprintf("release %d failed and was rolled back: %s; release %d is running", rel, dec.Reason, dep.From)
		st.ObservedGeneration = dep.Generation
	case dep.From == 0:
		// A first deploy has nothing to fall back to: its instances keep
		// restarting, so a fixed dependency can still heal it.
		dep.Status, dep.Reason = paved.DeploymentFailed, dec.Reason
		note = "failed: " + dec.Reason
		d.setReleaseStatus(ctx, c, rel, paved.ReleaseFailed, dec.Reason)
		st.Release, st.TargetRelease = rel, 0
		st.Failure = fmt.Sprintf("release %d failed: %s", rel, dec.Reason)
		st.ObservedGeneration = dep.Generation
	case p.Reason != "":
		// It tried to roll back and the previous release did not come back.
		dep.Status, dep.Reason = paved.DeploymentFailed, dec.Reason
		note = "failed: " + dec.Reason
		d.setReleaseStatus(ctx, c, rel, paved.ReleaseFailed, dec.Reason)
		st.TargetRelease = 0
		st.Failure = fmt.Sprintf("release %d failed and the rollback to release %d did not complete: %s", rel, dep.From, dec.Reason)
		st.ObservedGeneration = dep.Generation
	default:
		// auto_rollback off: stop where it is, the old release still serving.
		dep.Status, dep.Reason = paved.DeploymentFailed, dec.Reason
		note = "failed: " + dec.Reason + "; auto_rollback is off, so it stopped where it was"
		d.setReleaseStatus(ctx, c, rel, paved.ReleaseFailed, dec.Reason)
		st.TargetRelease = rel // keeps the new instances from being scaled away
		st.Failure = fmt.Sprintf("release %d failed: %s; auto_rollback is off, so the deployment stopped where it was with release %d still serving — roll back or push a fix",
			rel, dec.Reason, dep.From)
		st.ObservedGeneration = dep.Generation
	}
	dep.Phase, dep.Step, dep.Progress = p.Phase, p.Step, mustJSON(p)
	if err := d.opts.Store.UpdateDeployment(ctx, dep, note); err != nil {
		d.log.Error("save deployment", "deployment", dep.ID, "err", err)
	}
	d.note(key, fmt.Sprintf("deployment %d: %s", dep.ID, note))
	d.save(ctx, c, st, nil)
	return st
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
