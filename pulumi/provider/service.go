package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ServiceInstance is paved:index:ServiceInstance, a backing service
// instance of a space, provisioned by the broker offering its offering.
type ServiceInstance struct{}

// ServiceInstanceArgs are an instance's inputs.
type ServiceInstanceArgs struct {
	Space      string         `pulumi:"space" provider:"replaceOnChanges"`
	Name       string         `pulumi:"name" provider:"replaceOnChanges"`
	Offering   string         `pulumi:"offering" provider:"replaceOnChanges"`
	Plan       string         `pulumi:"plan"`
	Broker     *string        `pulumi:"broker,optional" provider:"replaceOnChanges"`
	Parameters map[string]any `pulumi:"parameters,optional"`
}

// ServiceInstanceState is an instance's outputs.
type ServiceInstanceState struct {
	ServiceInstanceArgs
	Guid string `pulumi:"guid"`
}

// Annotate documents the resource.
func (r *ServiceInstance) Annotate(a infer.Annotator) {
	a.SetToken("index", "ServiceInstance")
	a.Describe(&r, "A backing service instance of a space: the cell asks the offering's broker to provision it and waits until the broker "+
		"is done. A plan change happens in place where the plan is updateable; other changes replace it.")
}

// Annotate documents the inputs.
func (s *ServiceInstanceArgs) Annotate(a infer.Annotator) {
	a.Describe(&s.Space, "The space.")
	a.Describe(&s.Name, "Name: a DNS label, unique in the space.")
	a.Describe(&s.Offering, "The service of a broker's catalog (`paved marketplace`).")
	a.Describe(&s.Plan, "The offering's plan; changed in place when it is updateable.")
	a.Describe(&s.Broker, "The broker, needed only when two brokers offer a service of that name.")
	a.Describe(&s.Parameters, "Parameters for the broker.")
}

// Annotate documents the outputs.
func (s *ServiceInstanceState) Annotate(a infer.Annotator) {
	a.Describe(&s.Guid, "The instance's ID at the broker.")
}

var (
	_ infer.CustomCheck[ServiceInstanceArgs]                        = (*ServiceInstance)(nil)
	_ infer.CustomDiff[ServiceInstanceArgs, ServiceInstanceState]   = (*ServiceInstance)(nil)
	_ infer.CustomUpdate[ServiceInstanceArgs, ServiceInstanceState] = (*ServiceInstance)(nil)
	_ infer.CustomRead[ServiceInstanceArgs, ServiceInstanceState]   = (*ServiceInstance)(nil)
	_ infer.CustomDelete[ServiceInstanceState]                      = (*ServiceInstance)(nil)
	_ infer.CustomCheck[ServiceBindingArgs]                         = (*ServiceBinding)(nil)
	_ infer.CustomDiff[ServiceBindingArgs, ServiceBindingState]     = (*ServiceBinding)(nil)
	_ infer.CustomUpdate[ServiceBindingArgs, ServiceBindingState]   = (*ServiceBinding)(nil)
	_ infer.CustomRead[ServiceBindingArgs, ServiceBindingState]     = (*ServiceBinding)(nil)
	_ infer.CustomDelete[ServiceBindingState]                       = (*ServiceBinding)(nil)
)

// Check applies the library's rules.
func (*ServiceInstance) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[ServiceInstanceArgs], error) {
	args, failures, err := infer.DefaultCheck[ServiceInstanceArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[ServiceInstanceArgs]{Inputs: args, Failures: failures}, err
	}
	var c checker
	c.name("space", args.Space)
	spec, _ := instanceSpec(args)
	for _, fe := range spec.Validate() {
		c.add(fe.Field, fe.Message)
	}
	return infer.CheckResponse[ServiceInstanceArgs]{Inputs: args, Failures: c.failures(req.NewInputs)}, nil
}

func instanceSpec(a ServiceInstanceArgs) (paved.ServiceInstanceSpec, error) {
	spec := paved.ServiceInstanceSpec{Name: a.Name, Offering: a.Offering, Plan: a.Plan}
	if a.Broker != nil {
		spec.Broker = *a.Broker
	}
	if a.Parameters != nil {
		raw, err := json.Marshal(a.Parameters)
		if err != nil {
			return spec, err
		}
		spec.Parameters = raw
	}
	return spec, nil
}

// Diff replaces on a new space, name, offering or broker; a plan or
// parameters change is an update.
func (*ServiceInstance) Diff(_ context.Context, req infer.DiffRequest[ServiceInstanceArgs, ServiceInstanceState]) (infer.DiffResponse, error) {
	o, n := req.State.ServiceInstanceArgs, req.Inputs
	diff := map[string]p.PropertyDiff{}
	replace := func(key string, changed bool) {
		if changed {
			diff[key] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
		}
	}
	update := func(key string, changed bool) {
		if changed {
			diff[key] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
		}
	}
	replace("space", o.Space != n.Space)
	replace("name", o.Name != n.Name)
	replace("offering", o.Offering != n.Offering)
	replace("broker", n.Broker != nil && (o.Broker == nil || *o.Broker != *n.Broker))
	update("plan", o.Plan != n.Plan)
	oj, _ := json.Marshal(o.Parameters)
	nj, _ := json.Marshal(n.Parameters)
	update("parameters", string(oj) != string(nj))
	return infer.DiffResponse{HasChanges: len(diff) > 0, DetailedDiff: diff, DeleteBeforeReplace: true}, nil
}

// waitServiceInstance follows an instance's operation; a failed one is an
// error with the broker's words.
func waitServiceInstance(ctx context.Context, space, name string) (*paved.ServiceInstance, error) {
	in, err := clientOf(ctx).ServiceInstances.Wait(ctx, space, name)
	if err != nil {
		return nil, err
	}
	if in.LastOperation.State == paved.OperationFailed {
		return in, fmt.Errorf("service instance %s/%s: %s failed: %s", space, name, in.LastOperation.Type, in.LastOperation.Description)
	}
	return in, nil
}

func instanceState(args ServiceInstanceArgs, in *paved.ServiceInstance) ServiceInstanceState {
	args.Plan = in.Plan
	if args.Broker != nil || in.Broker != "" {
		b := in.Broker
		args.Broker = &b
	}
	return ServiceInstanceState{ServiceInstanceArgs: args, Guid: in.GUID}
}

// Create provisions the instance and waits for the broker.
func (*ServiceInstance) Create(ctx context.Context, req infer.CreateRequest[ServiceInstanceArgs]) (infer.CreateResponse[ServiceInstanceState], error) {
	id := req.Inputs.Space + "/" + req.Inputs.Name
	if req.DryRun {
		return infer.CreateResponse[ServiceInstanceState]{ID: id, Output: ServiceInstanceState{ServiceInstanceArgs: req.Inputs}}, nil
	}
	spec, err := instanceSpec(req.Inputs)
	if err != nil {
		return infer.CreateResponse[ServiceInstanceState]{}, err
	}
	if _, err := clientOf(ctx).ServiceInstances.Create(ctx, req.Inputs.Space, spec); err != nil {
		return infer.CreateResponse[ServiceInstanceState]{}, fmt.Errorf("create service instance %s: %w", id, err)
	}
	in, err := waitServiceInstance(ctx, req.Inputs.Space, req.Inputs.Name)
	if err != nil {
		// The record exists: the stack keeps it, and the next update or
		// destroy acts on it.
		return infer.CreateResponse[ServiceInstanceState]{ID: id, Output: ServiceInstanceState{ServiceInstanceArgs: req.Inputs}}, err
	}
	return infer.CreateResponse[ServiceInstanceState]{ID: id, Output: instanceState(req.Inputs, in)}, nil
}

// Update changes the plan or the parameters in place.
func (*ServiceInstance) Update(ctx context.Context, req infer.UpdateRequest[ServiceInstanceArgs, ServiceInstanceState]) (infer.UpdateResponse[ServiceInstanceState], error) {
	if req.DryRun {
		return infer.UpdateResponse[ServiceInstanceState]{Output: ServiceInstanceState{ServiceInstanceArgs: req.Inputs, Guid: req.State.Guid}}, nil
	}
	spec, err := instanceSpec(req.Inputs)
	if err != nil {
		return infer.UpdateResponse[ServiceInstanceState]{}, err
	}
	if spec.Parameters == nil {
		spec.Parameters = json.RawMessage("{}")
	}
	if _, err := clientOf(ctx).ServiceInstances.Update(ctx, req.Inputs.Space, spec); err != nil {
		return infer.UpdateResponse[ServiceInstanceState]{}, fmt.Errorf("update service instance %s: %w", req.ID, err)
	}
	in, err := waitServiceInstance(ctx, req.Inputs.Space, req.Inputs.Name)
	if err != nil {
		return infer.UpdateResponse[ServiceInstanceState]{}, err
	}
	return infer.UpdateResponse[ServiceInstanceState]{Output: instanceState(req.Inputs, in)}, nil
}

// Read refreshes the instance; one deleted outside leaves the stack.
func (*ServiceInstance) Read(ctx context.Context, req infer.ReadRequest[ServiceInstanceArgs, ServiceInstanceState]) (infer.ReadResponse[ServiceInstanceArgs, ServiceInstanceState], error) {
	space, name, _ := strings.Cut(req.ID, "/")
	in, err := clientOf(ctx).ServiceInstances.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		return infer.ReadResponse[ServiceInstanceArgs, ServiceInstanceState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[ServiceInstanceArgs, ServiceInstanceState]{}, fmt.Errorf("read service instance %s: %w", req.ID, err)
	}
	args := req.State.ServiceInstanceArgs
	args.Space, args.Name, args.Offering = in.Space, in.Name, in.Offering
	st := instanceState(args, in)
	return infer.ReadResponse[ServiceInstanceArgs, ServiceInstanceState]{ID: req.ID, Inputs: st.ServiceInstanceArgs, State: st}, nil
}

// Delete deprovisions the instance and waits until the broker is done.
func (*ServiceInstance) Delete(ctx context.Context, req infer.DeleteRequest[ServiceInstanceState]) (infer.DeleteResponse, error) {
	space, name, _ := strings.Cut(req.ID, "/")
	if err := clientOf(ctx).ServiceInstances.Delete(ctx, space, name); err != nil {
		if paved.IsNotFound(err) {
			return infer.DeleteResponse{}, nil
		}
		return infer.DeleteResponse{}, fmt.Errorf("delete service instance %s: %w", req.ID, err)
	}
	in, err := clientOf(ctx).ServiceInstances.Wait(ctx, space, name)
	switch {
	case paved.IsNotFound(err):
		return infer.DeleteResponse{}, nil
	case err != nil:
		return infer.DeleteResponse{}, fmt.Errorf("delete service instance %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, fmt.Errorf("delete service instance %s failed: %s", req.ID, in.LastOperation.Description)
}

// ServiceBinding is paved:index:ServiceBinding: an instance bound to an
// app of its space, which rolls out with the credentials in VCAP_SERVICES.
type ServiceBinding struct{}

// ServiceBindingArgs are a binding's inputs; every one replaces it.
type ServiceBindingArgs struct {
	Space    string `pulumi:"space" provider:"replaceOnChanges"`
	Name     string `pulumi:"name" provider:"replaceOnChanges"`
	Instance string `pulumi:"instance" provider:"replaceOnChanges"`
	App      string `pulumi:"app" provider:"replaceOnChanges"`
}

// ServiceBindingState is a binding's outputs.
type ServiceBindingState struct {
	ServiceBindingArgs
	Guid string `pulumi:"guid"`
}

// Annotate documents the resource.
func (r *ServiceBinding) Annotate(a infer.Annotator) {
	a.SetToken("index", "ServiceBinding")
	a.Describe(&r, "Binds a service instance to an app of its space: the broker makes credentials (never in the stack's state), and the app "+
		"rolls out with them in `VCAP_SERVICES`. Every change replaces the binding.")
}

// Annotate documents the inputs.
func (s *ServiceBindingArgs) Annotate(a infer.Annotator) {
	a.Describe(&s.Space, "The space of the instance and the app.")
	a.Describe(&s.Name, "Name: a DNS label, unique in the space.")
	a.Describe(&s.Instance, "The service instance.")
	a.Describe(&s.App, "The app.")
}

// Check applies the library's rules.
func (*ServiceBinding) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[ServiceBindingArgs], error) {
	args, failures, err := infer.DefaultCheck[ServiceBindingArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[ServiceBindingArgs]{Inputs: args, Failures: failures}, err
	}
	var c checker
	c.name("space", args.Space)
	for _, fe := range (paved.ServiceBindingSpec{Name: args.Name, Instance: args.Instance, App: args.App}).Validate() {
		c.add(fe.Field, fe.Message)
	}
	return infer.CheckResponse[ServiceBindingArgs]{Inputs: args, Failures: c.failures(req.NewInputs)}, nil
}

// Diff replaces the binding on any change.
func (*ServiceBinding) Diff(_ context.Context, req infer.DiffRequest[ServiceBindingArgs, ServiceBindingState]) (infer.DiffResponse, error) {
	o, n := req.State.ServiceBindingArgs, req.Inputs
	diff := map[string]p.PropertyDiff{}
	for key, changed := range map[string]bool{"space": o.Space != n.Space, "name": o.Name != n.Name, "instance": o.Instance != n.Instance, "app": o.App != n.App} {
		if changed {
			diff[key] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
		}
	}
	return infer.DiffResponse{HasChanges: len(diff) > 0, DetailedDiff: diff, DeleteBeforeReplace: true}, nil
}

// Create binds and waits for the broker.
func (*ServiceBinding) Create(ctx context.Context, req infer.CreateRequest[ServiceBindingArgs]) (infer.CreateResponse[ServiceBindingState], error) {
	a := req.Inputs
	id := a.Space + "/" + a.Name
	if req.DryRun {
		return infer.CreateResponse[ServiceBindingState]{ID: id, Output: ServiceBindingState{ServiceBindingArgs: a}}, nil
	}
	c := clientOf(ctx)
	if _, err := c.ServiceBindings.Create(ctx, a.Space, paved.ServiceBindingSpec{Name: a.Name, Instance: a.Instance, App: a.App}); err != nil {
		return infer.CreateResponse[ServiceBindingState]{}, fmt.Errorf("bind %s to app %s: %w", a.Instance, a.App, err)
	}
	b, err := c.ServiceBindings.Wait(ctx, a.Space, a.Name)
	if err != nil {
		return infer.CreateResponse[ServiceBindingState]{ID: id, Output: ServiceBindingState{ServiceBindingArgs: a}}, err
	}
	if b.LastOperation.State == paved.OperationFailed {
		return infer.CreateResponse[ServiceBindingState]{ID: id, Output: ServiceBindingState{ServiceBindingArgs: a, Guid: b.GUID}},
			fmt.Errorf("binding %s failed: %s", id, b.LastOperation.Description)
	}
	return infer.CreateResponse[ServiceBindingState]{ID: id, Output: ServiceBindingState{ServiceBindingArgs: a, Guid: b.GUID}}, nil
}

// Update never happens (every input replaces the binding).
func (*ServiceBinding) Update(_ context.Context, req infer.UpdateRequest[ServiceBindingArgs, ServiceBindingState]) (infer.UpdateResponse[ServiceBindingState], error) {
	return infer.UpdateResponse[ServiceBindingState]{Output: ServiceBindingState{ServiceBindingArgs: req.Inputs, Guid: req.State.Guid}}, nil
}

// Read refreshes the binding; one deleted outside leaves the stack.
func (*ServiceBinding) Read(ctx context.Context, req infer.ReadRequest[ServiceBindingArgs, ServiceBindingState]) (infer.ReadResponse[ServiceBindingArgs, ServiceBindingState], error) {
	space, name, _ := strings.Cut(req.ID, "/")
	b, err := clientOf(ctx).ServiceBindings.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		return infer.ReadResponse[ServiceBindingArgs, ServiceBindingState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[ServiceBindingArgs, ServiceBindingState]{}, fmt.Errorf("read service binding %s: %w", req.ID, err)
	}
	st := ServiceBindingState{ServiceBindingArgs: ServiceBindingArgs{Space: b.Space, Name: b.Name, Instance: b.Instance, App: b.App}, Guid: b.GUID}
	return infer.ReadResponse[ServiceBindingArgs, ServiceBindingState]{ID: req.ID, Inputs: st.ServiceBindingArgs, State: st}, nil
}

// Delete unbinds and waits until the broker is done.
func (*ServiceBinding) Delete(ctx context.Context, req infer.DeleteRequest[ServiceBindingState]) (infer.DeleteResponse, error) {
	space, name, _ := strings.Cut(req.ID, "/")
	c := clientOf(ctx)
	if err := c.ServiceBindings.Delete(ctx, space, name); err != nil {
		if paved.IsNotFound(err) {
			return infer.DeleteResponse{}, nil
		}
		return infer.DeleteResponse{}, fmt.Errorf("delete service binding %s: %w", req.ID, err)
	}
	b, err := c.ServiceBindings.Wait(ctx, space, name)
	switch {
	case paved.IsNotFound(err):
		return infer.DeleteResponse{}, nil
	case err != nil:
		return infer.DeleteResponse{}, fmt.Errorf("delete service binding %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, fmt.Errorf("delete service binding %s failed: %s", req.ID, b.LastOperation.Description)
}

// UserProvidedService is paved:index:UserProvidedService: credentials the
// user gives, bound to apps with ServiceBinding like any service.
type UserProvidedService struct{}

// UserProvidedServiceArgs are its inputs.
type UserProvidedServiceArgs struct {
	Space       string            `pulumi:"space" provider:"replaceOnChanges"`
	Name        string            `pulumi:"name" provider:"replaceOnChanges"`
	Credentials map[string]string `pulumi:"credentials" provider:"secret"`
	Tags        []string          `pulumi:"tags,optional"`
}

// UserProvidedServiceState are its outputs: never the credentials (the
// cell does not return them; a change of them is found against the
// recorded inputs, see secretInputs).
type UserProvidedServiceState struct {
	Space string   `pulumi:"space"`
	Name  string   `pulumi:"name"`
	Tags  []string `pulumi:"tags,optional"`
}

func upsState(a UserProvidedServiceArgs) UserProvidedServiceState {
	return UserProvidedServiceState{Space: a.Space, Name: a.Name, Tags: a.Tags}
}

// Annotate documents the resource.
func (r *UserProvidedService) Annotate(a infer.Annotator) {
	a.SetToken("index", "UserProvidedService")
	a.Describe(&r, "A user-provided service: credentials you give (a database outside paved, an API's key), sealed by the cell and never "+
		"returned, bound to apps with `ServiceBinding`; they find them in `VCAP_SERVICES` under the label `user-provided`.")
}

// Annotate documents the inputs.
func (s *UserProvidedServiceArgs) Annotate(a infer.Annotator) {
	a.Describe(&s.Space, "The space.")
	a.Describe(&s.Name, "Name: a DNS label, unique among the space's service instances.")
	a.Describe(&s.Credentials, "The credentials: a Pulumi secret; new values roll the bound apps out.")
	a.Describe(&s.Tags, "Tags, for apps that look services up by tag.")
}

var (
	_ infer.CustomCheck[UserProvidedServiceArgs]                            = (*UserProvidedService)(nil)
	_ infer.CustomUpdate[UserProvidedServiceArgs, UserProvidedServiceState] = (*UserProvidedService)(nil)
	_ infer.CustomRead[UserProvidedServiceArgs, UserProvidedServiceState]   = (*UserProvidedService)(nil)
	_ infer.CustomDelete[UserProvidedServiceState]                          = (*UserProvidedService)(nil)
)

func upsSpec(a UserProvidedServiceArgs) paved.ServiceInstanceSpec {
	creds := make(map[string]any, len(a.Credentials))
	for k, v := range a.Credentials {
		creds[k] = v
	}
	return paved.ServiceInstanceSpec{Name: a.Name, Type: paved.ServiceUserProvided, Credentials: creds, Tags: a.Tags}
}

// Check applies the library's rules.
func (*UserProvidedService) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[UserProvidedServiceArgs], error) {
	args, failures, err := infer.DefaultCheck[UserProvidedServiceArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[UserProvidedServiceArgs]{Inputs: args, Failures: failures}, err
	}
	var c checker
	c.name("space", args.Space)
	for _, fe := range upsSpec(args).Validate() {
		c.add(fe.Field, fe.Message)
	}
	return infer.CheckResponse[UserProvidedServiceArgs]{Inputs: args, Failures: c.failures(req.NewInputs)}, nil
}

// Create records the service.
func (*UserProvidedService) Create(ctx context.Context, req infer.CreateRequest[UserProvidedServiceArgs]) (infer.CreateResponse[UserProvidedServiceState], error) {
	id := req.Inputs.Space + "/" + req.Inputs.Name
	out := upsState(req.Inputs)
	if req.DryRun {
		return infer.CreateResponse[UserProvidedServiceState]{ID: id, Output: out}, nil
	}
	if _, err := clientOf(ctx).ServiceInstances.Create(ctx, req.Inputs.Space, upsSpec(req.Inputs)); err != nil {
		return infer.CreateResponse[UserProvidedServiceState]{}, fmt.Errorf("create user-provided service %s: %w", id, err)
	}
	return infer.CreateResponse[UserProvidedServiceState]{ID: id, Output: out}, nil
}

// Update sends the credentials and tags again.
func (*UserProvidedService) Update(ctx context.Context, req infer.UpdateRequest[UserProvidedServiceArgs, UserProvidedServiceState]) (infer.UpdateResponse[UserProvidedServiceState], error) {
	out := upsState(req.Inputs)
	if req.DryRun {
		return infer.UpdateResponse[UserProvidedServiceState]{Output: out}, nil
	}
	if _, err := clientOf(ctx).ServiceInstances.Update(ctx, req.Inputs.Space, upsSpec(req.Inputs)); err != nil {
		return infer.UpdateResponse[UserProvidedServiceState]{}, fmt.Errorf("update user-provided service %s: %w", req.ID, err)
	}
	return infer.UpdateResponse[UserProvidedServiceState]{Output: out}, nil
}

// Read refreshes the service; the credentials are the recorded inputs
// (the cell never returns them).
func (*UserProvidedService) Read(ctx context.Context, req infer.ReadRequest[UserProvidedServiceArgs, UserProvidedServiceState]) (infer.ReadResponse[UserProvidedServiceArgs, UserProvidedServiceState], error) {
	space, name, _ := strings.Cut(req.ID, "/")
	in, err := clientOf(ctx).ServiceInstances.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		return infer.ReadResponse[UserProvidedServiceArgs, UserProvidedServiceState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[UserProvidedServiceArgs, UserProvidedServiceState]{}, fmt.Errorf("read user-provided service %s: %w", req.ID, err)
	}
	args := UserProvidedServiceArgs{Space: in.Space, Name: in.Name, Credentials: req.Inputs.Credentials, Tags: req.State.Tags}
	if len(in.Tags) > 0 || args.Tags != nil {
		args.Tags = in.Tags
	}
	return infer.ReadResponse[UserProvidedServiceArgs, UserProvidedServiceState]{ID: req.ID, Inputs: args, State: upsState(args)}, nil
}

// Delete removes the service (the cell refuses while bindings exist).
func (*UserProvidedService) Delete(ctx context.Context, req infer.DeleteRequest[UserProvidedServiceState]) (infer.DeleteResponse, error) {
	space, name, _ := strings.Cut(req.ID, "/")
	if err := clientOf(ctx).ServiceInstances.Delete(ctx, space, name); err != nil && !paved.IsNotFound(err) {
		return infer.DeleteResponse{}, fmt.Errorf("delete user-provided service %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, nil
}
