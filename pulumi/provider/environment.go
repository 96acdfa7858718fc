package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Environment is paved:index:Environment, a preview environment: a new
// space holding every app of fromSpace at its last good release (routes
// prefixed with the name), with overrides, destroyed by the cell when its
// ttl expires. It cannot change in place: every input replaces it.
type Environment struct{}

// AppOverride changes one app of an environment.
type AppOverride struct {
	Source    *string           `pulumi:"source,optional"`
	Instances *int              `pulumi:"instances,optional"`
	Env       map[string]string `pulumi:"env,optional"`
}

// Annotate documents an override.
func (o *AppOverride) Annotate(a infer.Annotator) {
	a.SetToken("index", "AppOverride")
	a.Describe(&o.Source, "Source to run instead: a directory, a .tar.gz or a .zip.")
	a.Describe(&o.Instances, "Instances to run instead.")
	a.Describe(&o.Env, "Env merged over the app's.")
}

// EnvironmentArgs are an environment's inputs.
type EnvironmentArgs struct {
	Name             string                 `pulumi:"name" provider:"replaceOnChanges"`
	FromSpace        string                 `pulumi:"fromSpace" provider:"replaceOnChanges"`
	Ttl              string                 `pulumi:"ttl" provider:"replaceOnChanges"`
	DestroyOnSuccess *bool                  `pulumi:"destroyOnSuccess,optional" provider:"replaceOnChanges"`
	Overrides        map[string]AppOverride `pulumi:"overrides,optional" provider:"replaceOnChanges"`
}

// Annotate documents the inputs.
func (e *EnvironmentArgs) Annotate(a infer.Annotator) {
	a.Describe(&e.Name, "Name (also the space's).")
	a.Describe(&e.FromSpace, "The space to clone.")
	a.Describe(&e.Ttl, "Time to live (1s to 720h); the cell then destroys everything of it.")
	a.Describe(&e.DestroyOnSuccess, "A pipeline destroys it after a successful run.")
	a.Describe(&e.Overrides, "Per app of the space: a different `source`, `instances` or `env`.")
}

// EnvironmentState is an environment's outputs.
type EnvironmentState struct {
	EnvironmentArgs
	Urls      map[string]string `pulumi:"urls"`
	ExpiresAt string            `pulumi:"expiresAt"`
}

// Annotate documents the outputs.
func (e *EnvironmentState) Annotate(a infer.Annotator) {
	a.Describe(&e.Urls, "App → URL (send it to the cell's router).")
	a.Describe(&e.ExpiresAt, "When the cell destroys it (RFC 3339).")
}

// Annotate documents the resource.
func (r *Environment) Annotate(a infer.Annotator) {
	a.SetToken("index", "Environment")
	a.Describe(&r, "A preview environment: a new space holding every app of `fromSpace` at its last good release "+
		"(routes prefixed with the name), with overrides, destroyed by the cell when its `ttl` expires. It cannot change in place.")
}

var (
	_ infer.CustomCheck[EnvironmentArgs]                  = (*Environment)(nil)
	_ infer.CustomRead[EnvironmentArgs, EnvironmentState] = (*Environment)(nil)
	_ infer.CustomDelete[EnvironmentState]                = (*Environment)(nil)
)

// Check applies paved's rules to the names, the ttl and the overrides.
func (*Environment) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[EnvironmentArgs], error) {
	args, failures, err := infer.DefaultCheck[EnvironmentArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[EnvironmentArgs]{Inputs: args, Failures: failures}, err
	}
	return infer.CheckResponse[EnvironmentArgs]{Inputs: args, Failures: args.check().failures(req.NewInputs)}, nil
}

// check applies the library's rules (paved.EnvironmentSpec.Validate) to
// the inputs; the override sources are paths here, read where given.
func (a EnvironmentArgs) check() *checker {
	var c checker
	c.duration("ttl", &a.Ttl, true) // the syntax; the library says the bounds
	spec := paved.EnvironmentSpec{Name: a.Name, FromSpace: a.FromSpace, DestroyOnSuccess: deref(a.DestroyOnSuccess)}
	if ttl, err := time.ParseDuration(a.Ttl); err == nil {
		spec.TTL = paved.Duration(ttl)
	}
	for app, o := range a.Overrides {
		if o.Source != nil {
			if _, _, err := paved.ReadSource(*o.Source); err != nil {
				c.add("overrides"+mapKey(app)+".source", fmt.Sprintf("cannot read the source: %v", err))
			}
		}
		if spec.Overrides == nil {
			spec.Overrides = map[string]paved.AppOverride{}
		}
		spec.Overrides[app] = paved.AppOverride{Instances: o.Instances, Env: o.Env}
	}
	for _, fe := range spec.Validate() {
		c.add(pulumiPath(fe.Field), fe.Message)
	}
	return &c
}

// Create clones the space, uploading override sources first.
func (*Environment) Create(ctx context.Context, req infer.CreateRequest[EnvironmentArgs]) (infer.CreateResponse[EnvironmentState], error) {
	in := req.Inputs
	if req.DryRun {
		return infer.CreateResponse[EnvironmentState]{ID: in.Name, Output: EnvironmentState{EnvironmentArgs: in}}, nil
	}
	ttl, err := time.ParseDuration(in.Ttl)
	if err != nil {
		return infer.CreateResponse[EnvironmentState]{}, fmt.Errorf("ttl: %w", err)
	}
	c := clientOf(ctx)
	spec := paved.EnvironmentSpec{Name: in.Name, FromSpace: in.FromSpace, TTL: paved.Duration(ttl),
		DestroyOnSuccess: deref(in.DestroyOnSuccess), Overrides: map[string]paved.AppOverride{}}
	for app, o := range in.Overrides {
		ov := paved.AppOverride{Instances: o.Instances, Env: o.Env}
		if o.Source != nil {
			data, _, err := paved.ReadSource(*o.Source)
			if err != nil {
				return infer.CreateResponse[EnvironmentState]{}, fmt.Errorf("overrides%s.source: %w", mapKey(app), err)
			}
			if ov.Source, _, err = c.Sources.Ensure(ctx, data, nil); err != nil {
				return infer.CreateResponse[EnvironmentState]{}, fmt.Errorf("upload the source of %s: %w", app, err)
			}
		}
		spec.Overrides[app] = ov
	}
	env, err := c.Environments.Create(ctx, spec)
	if err != nil {
		return infer.CreateResponse[EnvironmentState]{}, fmt.Errorf("create environment %s: %w", in.Name, err)
	}
	return infer.CreateResponse[EnvironmentState]{ID: env.Name, Output: environmentState(env, in)}, nil
}

// Read refreshes the environment; one destroyed (expired) leaves the stack.
func (*Environment) Read(ctx context.Context, req infer.ReadRequest[EnvironmentArgs, EnvironmentState]) (infer.ReadResponse[EnvironmentArgs, EnvironmentState], error) {
	env, err := clientOf(ctx).Environments.Get(ctx, req.ID)
	if paved.IsNotFound(err) {
		return infer.ReadResponse[EnvironmentArgs, EnvironmentState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[EnvironmentArgs, EnvironmentState]{}, fmt.Errorf("read environment %s: %w", req.ID, err)
	}
	st := environmentState(env, req.State.EnvironmentArgs)
	return infer.ReadResponse[EnvironmentArgs, EnvironmentState]{ID: env.Name, Inputs: st.EnvironmentArgs, State: st}, nil
}

// Delete destroys the environment and everything in it.
func (*Environment) Delete(ctx context.Context, req infer.DeleteRequest[EnvironmentState]) (infer.DeleteResponse, error) {
	if err := clientOf(ctx).Environments.Delete(ctx, req.ID); err != nil && !paved.IsNotFound(err) {
		return infer.DeleteResponse{}, fmt.Errorf("destroy environment %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, nil
}

// environmentState is the environment as the cell has it; prior keeps the
// user's spelling of the ttl and the overrides (the cell stores digests).
func environmentState(env *paved.Environment, prior EnvironmentArgs) EnvironmentState {
	st := EnvironmentState{EnvironmentArgs: prior, Urls: env.URLs, ExpiresAt: env.ExpiresAt.Format(time.RFC3339)}
	st.Name, st.FromSpace = env.Name, env.FromSpace
	st.Ttl = *durationOr(env.TTL, &prior.Ttl)
	if env.DestroyOnSuccess || prior.DestroyOnSuccess != nil {
		st.DestroyOnSuccess = ptr(env.DestroyOnSuccess)
	}
	if st.Urls == nil {
		st.Urls = map[string]string{}
	}
	return st
}

// mapKey renders a map key of a property path.
func mapKey(k string) string {
	if identRE.MatchString(k) {
		return "." + k
	}
	return `["` + k + `"]`
}
