package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// ServiceBindingResource is paved_service_binding.
type ServiceBindingResource struct{ client *paved.Client }

var _ resource.ResourceWithImportState = (*ServiceBindingResource)(nil)

// NewServiceBindingResource returns paved_service_binding.
func NewServiceBindingResource() resource.Resource { return &ServiceBindingResource{} }

type serviceBindingModel struct {
	ID       types.String   `tfsdk:"id"`
	Space    types.String   `tfsdk:"space"`
	Name     types.String   `tfsdk:"name"`
	Instance types.String   `tfsdk:"instance"`
	App      types.String   `tfsdk:"app"`
	GUID     types.String   `tfsdk:"guid"`
	Timeouts timeouts.Value `tfsdk:"timeouts"`
}

// Metadata names the resource.
func (r *ServiceBindingResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_service_binding"
}

// Schema describes paved_service_binding.
func (r *ServiceBindingResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	name := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Required: true, MarkdownDescription: desc, Validators: []validator.String{validators.Name()}, PlanModifiers: replace}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Binds a service instance to an app of its space. The broker makes credentials for it (the cell keeps them sealed; " +
			"they are never in state), and the app gets a new release, rolled out with its strategy, whose instances find them in " +
			"`VCAP_SERVICES`. Deleting the binding revokes the credentials and rolls the app out without them. Every change replaces the binding.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`space/name`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"space":    name("The space of the instance and the app."),
			"name":     name("Name: a DNS label, unique in the space; the `name` and `binding_name` of its `VCAP_SERVICES` entry."),
			"instance": name("The service instance (`paved_service_instance.…name`)."),
			"app":      name("The app (`paved_app.…name`)."),
			"guid": schema.StringAttribute{Computed: true, MarkdownDescription: "The binding's ID at the broker.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		},
		Blocks: map[string]schema.Block{"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true})},
	}
}

// Configure takes the provider's client.
func (r *ServiceBindingResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *ServiceBindingResource) fill(m *serviceBindingModel, b *paved.ServiceBinding) {
	m.ID = types.StringValue(b.Space + "/" + b.Name)
	m.Space, m.Name, m.Instance, m.App = types.StringValue(b.Space), types.StringValue(b.Name), types.StringValue(b.Instance), types.StringValue(b.App)
	m.GUID = types.StringValue(b.GUID)
}

// Create binds and waits for the broker.
func (r *ServiceBindingResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m serviceBindingModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Create(ctx, defaultServiceTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	space := m.Space.ValueString()
	spec := paved.ServiceBindingSpec{Name: m.Name.ValueString(), Instance: m.Instance.ValueString(), App: m.App.ValueString()}
	b, err := r.client.ServiceBindings.Create(ctx, space, spec)
	if err != nil {
		serviceFieldError(&resp.Diagnostics, "Could not bind "+spec.Instance+" to app "+spec.App, err, nil)
		return
	}
	r.fill(&m, b)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
	b, err = r.client.ServiceBindings.Wait(ctx, space, spec.Name)
	if err != nil {
		addError(&resp.Diagnostics, fmt.Sprintf("Could not bind %s to app %s", spec.Instance, spec.App), err)
		return
	}
	if b.LastOperation.State == paved.OperationFailed {
		resp.Diagnostics.AddError(fmt.Sprintf("Service binding %s/%s failed", space, spec.Name), b.LastOperation.Description)
	}
}

// Update only takes new timeouts: every other change replaces the binding.
func (r *ServiceBindingResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m serviceBindingModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Read refreshes the binding; one deleted outside leaves the state.
func (r *ServiceBindingResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m serviceBindingModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	b, err := r.client.ServiceBindings.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		removeGone(ctx, resp, nil)
		return
	}
	if err != nil {
		addError(&resp.Diagnostics, "Could not read service binding "+m.ID.ValueString(), err)
		return
	}
	typedTimeouts(ctx, &m.Timeouts)
	r.fill(&m, b)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Delete unbinds and waits until the broker is done.
func (r *ServiceBindingResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m serviceBindingModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Delete(ctx, defaultServiceTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	deleteAndWait(&resp.Diagnostics, "service binding "+m.ID.ValueString(),
		func() error { return r.client.ServiceBindings.Delete(ctx, space, name) },
		func() (paved.ServiceOperation, error) {
			b, err := r.client.ServiceBindings.Wait(ctx, space, name)
			if b == nil {
				return paved.ServiceOperation{}, err
			}
			return b.LastOperation, err
		})
}

// ImportState imports by "space/name".
func (r *ServiceBindingResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importSpaceName(ctx, "service binding", req, resp)
}
