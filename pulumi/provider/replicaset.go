package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ReplicaSet is paved:index:ReplicaSet: the same app in several regions
// (cells of the provider's regions) behind one global host, over
// paved.Regions.ReplicaSets.
type ReplicaSet struct{}

// ReplicaSetApp is the app of a replica set: a name and App's settings.
type ReplicaSetApp struct {
	Name string `pulumi:"name"`
	AppSettings
}

// Annotate documents the app of a replica set.
func (a *ReplicaSetApp) Annotate(an infer.Annotator) {
	an.SetToken("index", "ReplicaSetApp")
	an.Describe(&a.Name, "Name of the app in every region: a DNS label.")
}

// ReplicaSetSettings are what a program declares about a replica set:
// its inputs (ReplicaSetArgs) but the secrets, and so its outputs too.
type ReplicaSetSettings struct {
	Name              string        `pulumi:"name" provider:"replaceOnChanges"`
	Regions           []string      `pulumi:"regions"`
	MinHealthyRegions *int          `pulumi:"minHealthyRegions,optional"`
	Space             string        `pulumi:"space" provider:"replaceOnChanges"`
	GlobalHost        string        `pulumi:"globalHost"`
	Rollout           *string       `pulumi:"rollout,optional"`
	App               ReplicaSetApp `pulumi:"app"`
}

// ReplicaSetArgs are a replica set's inputs: its settings and the app's
// secret environment, which is never an output (no region returns it).
// It sits at the top level, not in app: app is one object type for the
// inputs and the outputs, and Pulumi's SDKs make only top-level inputs
// secret before they leave the program.
type ReplicaSetArgs struct {
	ReplicaSetSettings
	SecretEnv map[string]string `pulumi:"secretEnv,optional" provider:"secret"`
}

// Annotate documents the secret input.
func (a *ReplicaSetArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.SecretEnv, "Secret environment variables of the app in every region: a Pulumi secret, sent to every region "+
		"with every create and update (so a region added later gets them too) and never returned (the replica set's outputs "+
		"do not hold them). A change of their values is an in-place update; a key dropped from the map is removed everywhere. "+
		"Left out (or empty), nothing is sent and each region's app keeps the secrets it has.")
}

// Annotate documents the settings.
func (a *ReplicaSetSettings) Annotate(an infer.Annotator) {
	an.Describe(&a.Name, "Name: a DNS label. Changing it replaces the replica set.")
	an.Describe(&a.Regions, "Regions of the provider's `regions` to run in. Order matters: with the `canary_region` rollout "+
		"the first reachable one rolls out alone first. A region dropped from the list is cleaned up after the others converged.")
	an.Describe(&a.MinHealthyRegions, "How many regions must converge for an update to succeed (default 1: availability first). "+
		"The others are reported degraded and converge on the next update.")
	an.SetDefault(&a.MinHealthyRegions, 1)
	an.Describe(&a.Space, "Space of the app in every region, created where missing and never deleted. Changing it replaces the replica set.")
	an.Describe(&a.GlobalHost, "Host every region's router serves for the set (responses carry `X-Paved-Region`). A global host belongs to one replica set.")
	an.Describe(&a.Rollout, "`canary_region` (default): the first reachable region alone, then the others in parallel; `parallel`: every region at once.")
	an.SetDefault(&a.Rollout, paved.RolloutCanaryRegion)
	an.Describe(&a.App, "The app, with App's settings (its secret environment is the top-level `secretEnv`). A change rolls out in place in every region.")
}

// RegionStatus is one region of a replica set after the last update or refresh.
type RegionStatus struct {
	Status           string  `pulumi:"status"`
	Reason           *string `pulumi:"reason,optional"`
	Release          int     `pulumi:"release"`
	RunningInstances int     `pulumi:"runningInstances"`
	Cloud            *string `pulumi:"cloud,optional"`
}

// Annotate documents a region's status.
func (s *RegionStatus) Annotate(a infer.Annotator) {
	a.SetToken("index", "RegionStatus")
	a.Describe(&s.Status, "`ready`, `degraded`, `missing` or `skipped` (the canary region failed).")
	a.Describe(&s.Reason, "Why the region is not ready.")
	a.Describe(&s.Release, "The release the region's instances run.")
	a.Describe(&s.RunningInstances, "Instances passing their health check.")
	a.Describe(&s.Cloud, "Cloud label of the region's cell.")
}

// ReplicaSetState is a replica set's outputs: its settings (never
// secretEnv) and each region's status.
type ReplicaSetState struct {
	ReplicaSetSettings
	SourceHash    *string                 `pulumi:"sourceHash,optional"`
	RegionsStatus map[string]RegionStatus `pulumi:"regionsStatus"`
}

// Annotate documents the outputs.
func (s *ReplicaSetState) Annotate(a infer.Annotator) {
	a.Describe(&s.SourceHash, "sha256 of the packed `app.source`.")
	a.Describe(&s.RegionsStatus, "Each region's state after the last update or refresh.")
}

// Annotate documents the resource.
func (r *ReplicaSet) Annotate(a infer.Annotator) {
	a.SetToken("index", "ReplicaSet")
	a.Describe(&r, "The same app in several regions (cells of the provider's `regions`) behind one global host. "+
		"Every region's router serves `globalHost` with its own healthy instances and fails over to the other regions' routers "+
		"when it has none. Availability first: an update succeeds once `minHealthyRegions` regions converged; the others are "+
		"reported in `regionsStatus` and converge on the next update, which the next preview shows. "+
		"`secretEnv` is a secret input, never an output.")
}

var (
	_ infer.CustomCheck[ReplicaSetArgs]                   = (*ReplicaSet)(nil)
	_ infer.CustomDiff[ReplicaSetArgs, ReplicaSetState]   = (*ReplicaSet)(nil)
	_ infer.CustomUpdate[ReplicaSetArgs, ReplicaSetState] = (*ReplicaSet)(nil)
	_ infer.CustomRead[ReplicaSetArgs, ReplicaSetState]   = (*ReplicaSet)(nil)
	_ infer.CustomDelete[ReplicaSetState]                 = (*ReplicaSet)(nil)
)

// Check applies paved's rules for a replica set and its app.
func (*ReplicaSet) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[ReplicaSetArgs], error) {
	args, failures, err := infer.DefaultCheck[ReplicaSetArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[ReplicaSetArgs]{Inputs: args, Failures: failures}, err
	}
	var known []string
	if r := regionsOf(ctx); r != nil {
		known = regionNames(r)
	}
	c := args.check(known)
	return infer.CheckResponse[ReplicaSetArgs]{Inputs: args, Failures: c.failures(req.NewInputs)}, nil
}

// check applies paved's rules to the inputs; known lists the configured
// regions (nil: not known). The app's settings sit under app, its secret
// environment at the top level.
func (a ReplicaSetArgs) check(known []string) *checker {
	var c checker
	for _, fe := range a.placement().Validate(known) {
		c.add(pulumiPath(fe.Field), fe.Message)
	}
	c.settingsAt("app.", "", a.App.Name, a.App.AppSettings, a.SecretEnv)
	return &c
}

// placement is the spec without the app's settings and source.
func (a ReplicaSetSettings) placement() paved.ReplicaSetSpec {
	return paved.ReplicaSetSpec{Name: a.Name, Regions: a.Regions, MinHealthyRegions: deref(a.MinHealthyRegions),
		Space: a.Space, GlobalHost: a.GlobalHost, Rollout: deref(a.Rollout), App: paved.AppSpec{Name: a.App.Name}}
}

// spec is the replica set for the library: the placement, the app and its
// secrets. The secrets go to every region each time (a region that joins
// or lost its app gets them); none declared sends none, and each region
// keeps what it has (paved's API cannot tell an empty map from none).
func (a ReplicaSetArgs) spec(digest string) (paved.ReplicaSetSpec, error) {
	spec := a.placement()
	app, err := a.App.spec(a.App.Name, digest)
	if err != nil {
		return paved.ReplicaSetSpec{}, err
	}
	spec.App = app
	if len(a.SecretEnv) > 0 {
		spec.App.SecretEnv = maps.Clone(a.SecretEnv)
	}
	return spec, nil
}

// Diff compares the program with the state: the source by content, and a
// region that has not converged is a pending update.
func (*ReplicaSet) Diff(_ context.Context, req infer.DiffRequest[ReplicaSetArgs, ReplicaSetState]) (infer.DiffResponse, error) {
	in, st := req.Inputs, req.State
	diff := map[string]p.PropertyDiff{}
	replace := false
	for name, same := range map[string]bool{"name": in.Name == st.Name, "space": in.Space == st.Space} {
		if !same {
			diff[name] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
			replace = true
		}
	}
	if !slices.Equal(in.Regions, st.Regions) {
		diff["regions"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	if deref(in.MinHealthyRegions) != deref(st.MinHealthyRegions) {
		diff["minHealthyRegions"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	if in.GlobalHost != st.GlobalHost {
		diff["globalHost"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	if deref(in.Rollout) != deref(st.Rollout) {
		diff["rollout"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	changed, err := sourceChanged(in.App.Source, st.App.Source, st.SourceHash)
	if err != nil {
		return infer.DiffResponse{}, err
	}
	if changed {
		diff["app.source"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	if in.App.Name != st.App.Name {
		diff["app.name"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	for _, name := range changedSettings(in.App.AppSettings, st.App.AppSettings) {
		diff["app."+name] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	for _, r := range st.RegionsStatus {
		if r.Status != paved.RegionReady {
			diff["regionsStatus"] = p.PropertyDiff{Kind: p.Update}
			break
		}
	}
	return infer.DiffResponse{DeleteBeforeReplace: replace, HasChanges: len(diff) > 0, DetailedDiff: diff}, nil
}

// Create fans the replica set out and waits for the rollouts.
func (*ReplicaSet) Create(ctx context.Context, req infer.CreateRequest[ReplicaSetArgs]) (infer.CreateResponse[ReplicaSetState], error) {
	st, err := applyReplicaSet(ctx, req.Inputs, nil, req.DryRun)
	return infer.CreateResponse[ReplicaSetState]{ID: req.Inputs.Name, Output: st}, err
}

// Update rolls the change out in place in every region.
func (*ReplicaSet) Update(ctx context.Context, req infer.UpdateRequest[ReplicaSetArgs, ReplicaSetState]) (infer.UpdateResponse[ReplicaSetState], error) {
	st, err := applyReplicaSet(ctx, req.Inputs, &req.State, req.DryRun)
	return infer.UpdateResponse[ReplicaSetState]{Output: st}, err
}

// applyReplicaSet fans in out with the library. Too few regions converged
// fails the update with the per-region summary; the outputs then keep the
// prior settings with the new regions status, so the change stays pending.
func applyReplicaSet(ctx context.Context, in ReplicaSetArgs, prior *ReplicaSetState, dryRun bool) (ReplicaSetState, error) {
	data, digest, err := packSource(in.App.Source)
	if err != nil {
		return ReplicaSetState{}, err
	}
	saved := ReplicaSetState{ReplicaSetSettings: in.ReplicaSetSettings}
	if digest != "" {
		saved.SourceHash = &digest
	}
	if dryRun {
		if prior != nil {
			saved.RegionsStatus = prior.RegionsStatus
		}
		return saved, nil
	}
	spec, err := in.spec(digest)
	if err != nil {
		return ReplicaSetState{}, err
	}
	spec.Source = data
	regions := regionsOf(ctx)
	status, err := regions.ReplicaSets.Apply(ctx, spec, nil)
	if status == nil {
		return ReplicaSetState{}, fmt.Errorf("apply replica set %s: %w", in.Name, err)
	}
	if err != nil {
		if prior != nil {
			saved = *prior
		}
		saved.RegionsStatus = regionsStatus(status)
		return saved, infer.ResourceInitFailedError{Reasons: []string{err.Error()}}
	}
	saved.RegionsStatus = regionsStatus(status)
	if prior != nil {
		if removed := paved.RegionsLeft(in.Regions, prior.Regions); len(removed) > 0 {
			configured, _ := regions.Split(removed)
			if len(configured) > 0 {
				if err := regions.ReplicaSets.Delete(ctx, in.Name, configured); err != nil {
					return saved, infer.ResourceInitFailedError{Reasons: []string{fmt.Sprintf(
						"%s left replica set %s but could not be cleaned up: %v", strings.Join(configured, ", "), in.Name, err)}}
				}
			}
		}
	}
	return saved, nil
}

// Read refreshes the regions' status; a set no region has any more leaves
// the stack.
func (*ReplicaSet) Read(ctx context.Context, req infer.ReadRequest[ReplicaSetArgs, ReplicaSetState]) (infer.ReadResponse[ReplicaSetArgs, ReplicaSetState], error) {
	regions := regionsOf(ctx)
	configured, gone := regions.Split(req.State.Regions)
	status, err := regions.ReplicaSets.Read(ctx, req.ID, configured)
	if err != nil {
		return infer.ReadResponse[ReplicaSetArgs, ReplicaSetState]{}, fmt.Errorf("read replica set %s: %w", req.ID, err)
	}
	missing := len(gone) == 0
	for _, r := range status.Regions {
		missing = missing && r.Status == paved.RegionMissing
	}
	if missing {
		return infer.ReadResponse[ReplicaSetArgs, ReplicaSetState]{}, nil
	}
	for _, name := range gone {
		status.Regions = append(status.Regions, paved.RegionStatus{Region: name, Status: paved.RegionDegraded,
			Reason: "not in the provider's regions any more"})
	}
	st := req.State
	st.RegionsStatus = regionsStatus(status)
	// The secrets are never read back: the inputs keep what the program set.
	return infer.ReadResponse[ReplicaSetArgs, ReplicaSetState]{ID: req.ID, Inputs: req.Inputs, State: st}, nil
}

// Delete removes the app and the record from every region of the set; the
// space stays. An unreachable region fails the destroy, naming it.
func (*ReplicaSet) Delete(ctx context.Context, req infer.DeleteRequest[ReplicaSetState]) (infer.DeleteResponse, error) {
	regions := regionsOf(ctx)
	configured, _ := regions.Split(req.State.Regions)
	if err := regions.ReplicaSets.Delete(ctx, req.ID, configured); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("delete replica set %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, nil
}

func regionsStatus(st *paved.ReplicaSetStatus) map[string]RegionStatus {
	out := make(map[string]RegionStatus, len(st.Regions))
	for _, r := range st.Regions {
		rs := RegionStatus{Status: r.Status, Release: r.Release, RunningInstances: r.RunningInstances}
		if r.Reason != "" {
			rs.Reason = ptr(r.Reason)
		}
		if r.Cloud != "" {
			rs.Cloud = ptr(r.Cloud)
		}
		out[r.Region] = rs
	}
	return out
}
