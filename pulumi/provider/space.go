package provider

import (
	"context"
	"fmt"
	"maps"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Space is paved:index:Space, a space on the cell.
type Space struct{}

// SpaceArgs are a space's inputs.
type SpaceArgs struct {
	Name   string            `pulumi:"name" provider:"replaceOnChanges"`
	Labels map[string]string `pulumi:"labels,optional"`
}

// SpaceState is a space's outputs.
type SpaceState struct {
	SpaceArgs
}

// Annotate documents the resource.
func (s *Space) Annotate(a infer.Annotator) {
	a.SetToken("index", "Space")
	a.Describe(&s, "A space groups apps on a cell; preview environments clone spaces and roles are scoped to them.")
}

// Annotate documents the inputs.
func (s *SpaceArgs) Annotate(a infer.Annotator) {
	a.Describe(&s.Name, "Name: a DNS label. Changing it replaces the space.")
	a.Describe(&s.Labels, "Free-form labels.")
}

var (
	_ infer.CustomCheck[SpaceArgs]              = (*Space)(nil)
	_ infer.CustomUpdate[SpaceArgs, SpaceState] = (*Space)(nil)
	_ infer.CustomRead[SpaceArgs, SpaceState]   = (*Space)(nil)
	_ infer.CustomDelete[SpaceState]            = (*Space)(nil)
)

// Check decodes the inputs and refuses a bad name.
func (*Space) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[SpaceArgs], error) {
	args, failures, err := infer.DefaultCheck[SpaceArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[SpaceArgs]{Inputs: args, Failures: failures}, err
	}
	var c checker
	c.name("name", args.Name)
	for k := range args.Labels {
		if k == "" || len(k) > 63 {
			c.add("labels", "label keys must be 1 to 63 characters long")
		}
	}
	return infer.CheckResponse[SpaceArgs]{Inputs: args, Failures: c.failures(req.NewInputs)}, nil
}

// Create makes the space.
func (*Space) Create(ctx context.Context, req infer.CreateRequest[SpaceArgs]) (infer.CreateResponse[SpaceState], error) {
	out := SpaceState{req.Inputs}
	if req.DryRun {
		return infer.CreateResponse[SpaceState]{ID: req.Inputs.Name, Output: out}, nil
	}
	sp, err := clientOf(ctx).Spaces.Create(ctx, paved.SpaceSpec{Name: req.Inputs.Name, Labels: req.Inputs.Labels})
	if err != nil {
		return infer.CreateResponse[SpaceState]{}, fmt.Errorf("create space %s: %w", req.Inputs.Name, err)
	}
	return infer.CreateResponse[SpaceState]{ID: sp.Name, Output: spaceState(sp, req.Inputs.Labels)}, nil
}

// Update changes the labels.
func (*Space) Update(ctx context.Context, req infer.UpdateRequest[SpaceArgs, SpaceState]) (infer.UpdateResponse[SpaceState], error) {
	if req.DryRun {
		return infer.UpdateResponse[SpaceState]{Output: SpaceState{req.Inputs}}, nil
	}
	labels := req.Inputs.Labels
	if labels == nil {
		labels = map[string]string{} // removing every label
	}
	sp, err := clientOf(ctx).Spaces.Update(ctx, paved.SpaceSpec{Name: req.Inputs.Name, Labels: labels})
	if err != nil {
		return infer.UpdateResponse[SpaceState]{}, fmt.Errorf("update space %s: %w", req.Inputs.Name, err)
	}
	return infer.UpdateResponse[SpaceState]{Output: spaceState(sp, req.Inputs.Labels)}, nil
}

// Read refreshes the space; one deleted outside leaves the stack.
func (*Space) Read(ctx context.Context, req infer.ReadRequest[SpaceArgs, SpaceState]) (infer.ReadResponse[SpaceArgs, SpaceState], error) {
	sp, err := clientOf(ctx).Spaces.Get(ctx, req.ID)
	if paved.IsNotFound(err) {
		return infer.ReadResponse[SpaceArgs, SpaceState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[SpaceArgs, SpaceState]{}, fmt.Errorf("read space %s: %w", req.ID, err)
	}
	st := spaceState(sp, req.State.Labels)
	return infer.ReadResponse[SpaceArgs, SpaceState]{ID: sp.Name, Inputs: st.SpaceArgs, State: st}, nil
}

// Delete removes the space (it must hold no apps).
func (*Space) Delete(ctx context.Context, req infer.DeleteRequest[SpaceState]) (infer.DeleteResponse, error) {
	if err := clientOf(ctx).Spaces.Delete(ctx, req.ID); err != nil && !paved.IsNotFound(err) {
		return infer.DeleteResponse{}, fmt.Errorf("delete space %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, nil
}

// spaceState is a space as the cell has it; prior keeps "no labels" as
// the user wrote it (nil or empty).
func spaceState(sp *paved.Space, prior map[string]string) SpaceState {
	labels := maps.Clone(sp.Labels)
	if len(labels) == 0 {
		labels = prior
		if len(prior) != 0 {
			labels = map[string]string{}
		}
	}
	return SpaceState{SpaceArgs{Name: sp.Name, Labels: labels}}
}
