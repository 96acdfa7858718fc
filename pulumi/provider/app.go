package provider

import (
	"context"
	"fmt"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// rolloutTimeout bounds the wait for a rollout (the Terraform provider's default).
const rolloutTimeout = 20 * time.Minute

// App is paved:index:App, an app on the cell. Every change but space and
// name rolls out in place as a new release with the app's deployment
// strategy; a rollout that fails rolls back by itself and fails the update
// with the reason.
type App struct{}

// Annotate documents the resource.
func (r *App) Annotate(a infer.Annotator) {
	a.SetToken("index", "App")
	a.Describe(&r, "An app on a paved cell: built from `source`, run as `instances` processes behind the router. "+
		"Every change but `space` and `name` rolls out in place as a new release with the app's `deployment` strategy; "+
		"a rollout that fails rolls back by itself and fails the update with the reason.")
}

var (
	_ infer.CustomCheck[AppArgs]            = (*App)(nil)
	_ infer.CustomDiff[AppArgs, AppState]   = (*App)(nil)
	_ infer.CustomUpdate[AppArgs, AppState] = (*App)(nil)
	_ infer.CustomRead[AppArgs, AppState]   = (*App)(nil)
	_ infer.CustomDelete[AppState]          = (*App)(nil)
)

// Check decodes the inputs and applies paved's rules for an app, so a bad
// input fails the preview with its property path.
func (*App) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[AppArgs], error) {
	args, failures, err := infer.DefaultCheck[AppArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[AppArgs]{Inputs: args, Failures: failures}, err
	}
	var c checker
	c.name("space", args.Space)
	c.settings("", args.Name, args.AppSettings, args.SecretEnv)
	return infer.CheckResponse[AppArgs]{Inputs: args, Failures: c.failures(req.NewInputs)}, nil
}

// Diff compares the program with the app as the cell runs it. The source
// is compared by content: its digest against sourceHash, so an edited file
// is an update of `source`. Only space and name replace the app.
func (*App) Diff(_ context.Context, req infer.DiffRequest[AppArgs, AppState]) (infer.DiffResponse, error) {
	diff := map[string]p.PropertyDiff{}
	replace := false
	if req.Inputs.Space != req.State.Space {
		diff["space"] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
		replace = true
	}
	if req.Inputs.Name != req.State.Name {
		diff["name"] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
		replace = true
	}
	changed, err := sourceChanged(req.Inputs.Source, req.State.Source, req.State.SourceHash)
	if err != nil {
		return infer.DiffResponse{}, err
	}
	if changed {
		diff["source"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	for _, name := range changedSettings(req.Inputs.AppSettings, req.State.AppSettings) {
		diff[name] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	return infer.DiffResponse{DeleteBeforeReplace: replace, HasChanges: len(diff) > 0, DetailedDiff: diff}, nil
}

// sourceChanged tells whether the source (by path or by content) differs
// from what the app was last built from.
func sourceChanged(want, have, haveHash *string) (bool, error) {
	if want == nil {
		return have != nil, nil
	}
	if have == nil || *want != *have {
		return true, nil
	}
	_, digest, err := paved.ReadSource(*want)
	if err != nil {
		return false, err
	}
	return digest != deref(haveHash), nil
}

// Create uploads the source, creates the app and waits for its rollout.
func (*App) Create(ctx context.Context, req infer.CreateRequest[AppArgs]) (infer.CreateResponse[AppState], error) {
	in := req.Inputs
	id := in.Space + "/" + in.Name
	data, digest, err := packSource(in.Source)
	if err != nil {
		return infer.CreateResponse[AppState]{}, err
	}
	if req.DryRun {
		return infer.CreateResponse[AppState]{ID: id, Output: planned(in, digest, AppState{})}, nil
	}
	c := clientOf(ctx)
	spec, err := uploadAndSpec(ctx, c, in, data, digest)
	if err != nil {
		return infer.CreateResponse[AppState]{}, err
	}
	if _, err := c.Apps.Create(ctx, in.Space, spec); err != nil {
		return infer.CreateResponse[AppState]{}, fmt.Errorf("create app %s: %w", id, err)
	}
	st, err := finish(ctx, c, in.Space, in.Name, planned(in, digest, AppState{}))
	return infer.CreateResponse[AppState]{ID: id, Output: st}, err
}

// Update changes the app in place and waits for the rollout; a rollout
// that rolls back fails the update, and the outputs say what runs.
func (*App) Update(ctx context.Context, req infer.UpdateRequest[AppArgs, AppState]) (infer.UpdateResponse[AppState], error) {
	in := req.Inputs
	data, digest, err := packSource(in.Source)
	if err != nil {
		return infer.UpdateResponse[AppState]{}, err
	}
	if req.DryRun {
		return infer.UpdateResponse[AppState]{Output: planned(in, digest, req.State)}, nil
	}
	c := clientOf(ctx)
	spec, err := uploadAndSpec(ctx, c, in, data, digest)
	if err != nil {
		return infer.UpdateResponse[AppState]{}, err
	}
	if _, err := c.Apps.Update(ctx, in.Space, spec); err != nil {
		return infer.UpdateResponse[AppState]{}, fmt.Errorf("update app %s: %w", req.ID, err)
	}
	st, err := finish(ctx, c, in.Space, in.Name, planned(in, digest, req.State))
	return infer.UpdateResponse[AppState]{Output: st}, err
}

// Read refreshes the app from the cell, so changes made outside (an
// outside scale, a rollback) show as drift; one deleted outside leaves the
// stack.
func (*App) Read(ctx context.Context, req infer.ReadRequest[AppArgs, AppState]) (infer.ReadResponse[AppArgs, AppState], error) {
	space, name := req.State.Space, req.State.Name
	if space == "" || name == "" { // import: the ID is space/name
		space, name = splitID(req.ID)
	}
	c := clientOf(ctx)
	a, err := c.Apps.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		return infer.ReadResponse[AppArgs, AppState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[AppArgs, AppState]{}, fmt.Errorf("read app %s/%s: %w", space, name, err)
	}
	st, err := stateOf(ctx, c, a, req.State)
	if err != nil {
		return infer.ReadResponse[AppArgs, AppState]{}, err
	}
	inputs := AppArgs{Space: st.Space, Name: st.Name, AppSettings: st.AppSettings, SecretEnv: req.Inputs.SecretEnv}
	return infer.ReadResponse[AppArgs, AppState]{ID: a.Space + "/" + a.Name, Inputs: inputs, State: st}, nil
}

// Delete removes the app; the cell stops its instances before answering.
func (*App) Delete(ctx context.Context, req infer.DeleteRequest[AppState]) (infer.DeleteResponse, error) {
	space, name := req.State.Space, req.State.Name
	if err := clientOf(ctx).Apps.Delete(ctx, space, name); err != nil && !paved.IsNotFound(err) {
		return infer.DeleteResponse{}, fmt.Errorf("delete app %s/%s: %w", space, name, err)
	}
	return infer.DeleteResponse{}, nil
}

// packSource packs the source, if there is one.
func packSource(src *string) (data []byte, digest string, err error) {
	if src == nil {
		return nil, "", nil
	}
	return paved.ReadSource(*src)
}

// uploadAndSpec uploads the source unless the cell has it and builds the
// spec, secrets included (the cell cuts no release when they are the same).
func uploadAndSpec(ctx context.Context, c *paved.Client, in AppArgs, data []byte, digest string) (paved.AppSpec, error) {
	if data != nil {
		if _, _, err := c.Sources.Ensure(ctx, data, nil); err != nil {
			return paved.AppSpec{}, fmt.Errorf("upload the source of %s/%s: %w", in.Space, in.Name, err)
		}
	}
	spec, err := in.spec(in.Name, digest)
	if err != nil {
		return spec, err
	}
	spec.SecretEnv = map[string]string{} // none declared: none kept
	for k, v := range in.SecretEnv {
		spec.SecretEnv[k] = v
	}
	return spec, nil
}

// planned is the state an apply is expected to reach: the inputs, the new
// source digest and the prior outputs (Pulumi marks those the change
// affects as unknown in a preview).
func planned(in AppArgs, digest string, prior AppState) AppState {
	st := prior
	st.Space, st.Name, st.AppSettings = in.Space, in.Name, in.AppSettings
	st.SourceHash = nil
	if digest != "" {
		st.SourceHash = &digest
	}
	return st
}

// finish waits for the rollout and returns the app as it really is. A
// rollout that did not succeed (paved.WaitRollout) is an error, with the
// state of what runs, so the change stays pending.
func finish(ctx context.Context, c *paved.Client, space, name string, prior AppState) (AppState, error) {
	ctx, cancel := context.WithTimeout(ctx, rolloutTimeout)
	defer cancel()
	ro, err := paved.WaitRollout(ctx, c, space, name, paved.RolloutOptions{})
	if ro == nil {
		return prior, infer.ResourceInitFailedError{Reasons: []string{fmt.Sprintf("waiting for the rollout of %s/%s: %v", space, name, err)}}
	}
	st, rerr := stateOf(context.WithoutCancel(ctx), c, ro.App, prior)
	if rerr != nil {
		return prior, infer.ResourceInitFailedError{Reasons: []string{rerr.Error()}}
	}
	switch {
	case err != nil:
		return st, infer.ResourceInitFailedError{Reasons: []string{fmt.Sprintf("waiting for the rollout of %s/%s: %v", space, name, err)}}
	case !ro.Succeeded():
		return st, infer.ResourceInitFailedError{Reasons: []string{ro.Err().Error()}}
	}
	return st, nil
}

// stateOf is the app as the cell has it, release-bound settings taken from
// the release that runs.
func stateOf(ctx context.Context, c *paved.Client, a *paved.App, prior AppState) (AppState, error) {
	cfg, err := c.Releases.Running(ctx, a)
	if err != nil {
		return prior, err
	}
	st := AppState{Space: a.Space, Name: a.Name, AppSettings: settingsFrom(a, &cfg, prior.AppSettings),
		Release: a.Release, LastGoodRelease: a.LastGoodRelease, Status: a.Status, RunningInstances: a.RunningCount,
		Urls: a.URLs()}
	if cfg.Source != "" {
		st.SourceHash = ptr(cfg.Source)
	}
	return st, nil
}

func splitID(id string) (space, name string) {
	for i := range len(id) {
		if id[i] == '/' {
			return id[:i], id[i+1:]
		}
	}
	return "", id
}
