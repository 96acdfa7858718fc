package provider

import (
	"context"
	"errors"
	"fmt"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Pipeline is paved:index:Pipeline, a delivery pipeline in a space, over
// paved.Pipelines: sources whose new versions trigger jobs of steps. Every
// change but space and name is an in-place update (the cell keeps builds,
// versions and webhook secrets); webhookSecrets is a secret input that is
// never an output.
type Pipeline struct{}

// Annotate documents the resource.
func (r *Pipeline) Annotate(a infer.Annotator) {
	a.SetToken("index", "Pipeline")
	a.Describe(&r, "A delivery pipeline in a space: sources (`git`, `semver`, `time`, `app_release`) whose new versions trigger "+
		"jobs of steps (get, task, deploy, assert, put, environment, inParallel, try) with onSuccess/onFailure/ensure hooks. "+
		"Every version builds once per job; `passed` fans in. Every change but `space` and `name` is an in-place update "+
		"(builds, versions and webhook secrets are kept). `webhookSecrets` is a secret input, never an output. Import as `SPACE/NAME`.")
}

var (
	_ infer.CustomCheck[PipelineArgs]                 = (*Pipeline)(nil)
	_ infer.CustomDiff[PipelineArgs, PipelineState]   = (*Pipeline)(nil)
	_ infer.CustomUpdate[PipelineArgs, PipelineState] = (*Pipeline)(nil)
	_ infer.CustomRead[PipelineArgs, PipelineState]   = (*Pipeline)(nil)
	_ infer.CustomDelete[PipelineState]               = (*Pipeline)(nil)
)

// Check decodes the inputs and runs paved's pipeline validation (the one
// the cell, the CLI and the Terraform provider run), reporting each
// problem at its property path.
func (*Pipeline) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[PipelineArgs], error) {
	args, failures, err := infer.DefaultCheck[PipelineArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[PipelineArgs]{Inputs: args, Failures: failures}, err
	}
	var c checker
	c.name("space", args.Space)
	c.pipelineDurations(args.PipelineSettings)
	spec, _ := args.spec() // bad durations were reported above
	spec.WebhookSecrets = args.WebhookSecrets
	for _, fe := range spec.Validate(nil) {
		at := pipelinePath(fe.Field)
		c.add(at, fe.Message, pipelineDeps(at, args.PipelineSettings)...)
	}
	return infer.CheckResponse[PipelineArgs]{Inputs: args, Failures: c.failures(req.NewInputs)}, nil
}

// Diff compares the program with the pipeline as the cell has it, by
// meaning (durations by value, a list left out is an empty one). Only
// space and name replace it.
func (*Pipeline) Diff(_ context.Context, req infer.DiffRequest[PipelineArgs, PipelineState]) (infer.DiffResponse, error) {
	in, st := req.Inputs, req.State
	diff := map[string]p.PropertyDiff{}
	if in.Space != st.Space {
		diff["space"] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
	}
	if in.Name != st.Name {
		diff["name"] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
	}
	for _, name := range changedPipeline(in.PipelineSettings, st.PipelineSettings) {
		diff[name] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	return infer.DiffResponse{HasChanges: len(diff) > 0, DetailedDiff: diff}, nil
}

// Create sets the pipeline.
func (*Pipeline) Create(ctx context.Context, req infer.CreateRequest[PipelineArgs]) (infer.CreateResponse[PipelineState], error) {
	in := req.Inputs
	id := in.Space + "/" + in.Name
	if req.DryRun {
		return infer.CreateResponse[PipelineState]{ID: id, Output: PipelineState{PipelineSettings: in.PipelineSettings}}, nil
	}
	st, err := setPipeline(ctx, clientOf(ctx), in)
	return infer.CreateResponse[PipelineState]{ID: id, Output: st}, err
}

// Update replaces the pipeline's model in place.
func (*Pipeline) Update(ctx context.Context, req infer.UpdateRequest[PipelineArgs, PipelineState]) (infer.UpdateResponse[PipelineState], error) {
	if req.DryRun {
		st := req.State
		st.PipelineSettings = req.Inputs.PipelineSettings
		return infer.UpdateResponse[PipelineState]{Output: st}, nil
	}
	st, err := setPipeline(ctx, clientOf(ctx), req.Inputs)
	return infer.UpdateResponse[PipelineState]{Output: st}, err
}

// setPipeline sends the pipeline and returns what the cell answered. A
// pipeline the cell refuses (a deploy to an app the space does not have,
// which Check cannot know) fails with the property path.
func setPipeline(ctx context.Context, c *paved.Client, in PipelineArgs) (PipelineState, error) {
	id := in.Space + "/" + in.Name
	spec, err := in.spec()
	if err != nil {
		return PipelineState{}, fmt.Errorf("pipeline %s: %w", id, err)
	}
	spec.WebhookSecrets = in.WebhookSecrets
	pl, err := c.Pipelines.Set(ctx, in.Space, spec)
	if err != nil {
		var apiErr *paved.APIError
		if errors.As(err, &apiErr) && apiErr.Field != "" {
			return PipelineState{}, fmt.Errorf("the cell refused pipeline %s: %s: %s", id, pipelinePath(apiErr.Field), apiErr.Message)
		}
		return PipelineState{}, fmt.Errorf("set pipeline %s: %w", id, err)
	}
	return pipelineState(pl, in.PipelineSettings), nil
}

// Read refreshes the pipeline from the cell, so a change made outside
// shows as drift; one deleted outside leaves the stack. An import reads
// SPACE/NAME.
func (*Pipeline) Read(ctx context.Context, req infer.ReadRequest[PipelineArgs, PipelineState]) (infer.ReadResponse[PipelineArgs, PipelineState], error) {
	space, name := req.State.Space, req.State.Name
	prior := req.State.PipelineSettings
	if space == "" || name == "" {
		space, name = splitID(req.ID)
		prior = req.Inputs.PipelineSettings
		if paved.CheckName(space) != nil || paved.CheckName(name) != nil {
			return infer.ReadResponse[PipelineArgs, PipelineState]{}, fmt.Errorf("import a pipeline as SPACE/NAME, e.g. ci/main; got %q", req.ID)
		}
	}
	pl, err := clientOf(ctx).Pipelines.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		return infer.ReadResponse[PipelineArgs, PipelineState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[PipelineArgs, PipelineState]{}, fmt.Errorf("read pipeline %s/%s: %w", space, name, err)
	}
	st := pipelineState(pl, prior)
	// The secrets are never read back: keep what the program set.
	inputs := PipelineArgs{PipelineSettings: st.PipelineSettings, WebhookSecrets: req.Inputs.WebhookSecrets}
	return infer.ReadResponse[PipelineArgs, PipelineState]{ID: pl.Space + "/" + pl.Name, Inputs: inputs, State: st}, nil
}

// Delete removes the pipeline with its builds and versions.
func (*Pipeline) Delete(ctx context.Context, req infer.DeleteRequest[PipelineState]) (infer.DeleteResponse, error) {
	space, name := req.State.Space, req.State.Name
	if space == "" || name == "" {
		space, name = splitID(req.ID)
	}
	if err := clientOf(ctx).Pipelines.Delete(ctx, space, name); err != nil && !paved.IsNotFound(err) {
		return infer.DeleteResponse{}, fmt.Errorf("delete pipeline %s/%s: %w", space, name, err)
	}
	return infer.DeleteResponse{}, nil
}
