package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// defaultServiceTimeout bounds an instance's or a binding's operation.
const defaultServiceTimeout = 15 * time.Minute

// ServiceInstanceResource is paved_service_instance.
type ServiceInstanceResource struct{ client *paved.Client }

var _ resource.ResourceWithImportState = (*ServiceInstanceResource)(nil)

// NewServiceInstanceResource returns paved_service_instance.
func NewServiceInstanceResource() resource.Resource { return &ServiceInstanceResource{} }

type serviceInstanceModel struct {
	ID         types.String   `tfsdk:"id"`
	Space      types.String   `tfsdk:"space"`
	Name       types.String   `tfsdk:"name"`
	Offering   types.String   `tfsdk:"offering"`
	Plan       types.String   `tfsdk:"plan"`
	Broker     types.String   `tfsdk:"broker"`
	Parameters types.String   `tfsdk:"parameters"`
	GUID       types.String   `tfsdk:"guid"`
	Timeouts   timeouts.Value `tfsdk:"timeouts"`
}

// Metadata names the resource.
func (r *ServiceInstanceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_service_instance"
}

// Schema describes paved_service_instance.
func (r *ServiceInstanceResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A service instance of a space: the cell asks the offering's broker to provision it and waits until the broker is done " +
			"(polling asynchronous brokers). A plan change happens in place where the plan is updateable; other changes replace the instance.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`space/name`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"space": schema.StringAttribute{Required: true, MarkdownDescription: "The space.",
				Validators: []validator.String{validators.Name()}, PlanModifiers: replace},
			"name": schema.StringAttribute{Required: true, MarkdownDescription: "Name: a DNS label, unique in the space.",
				Validators: []validator.String{validators.Name()}, PlanModifiers: replace},
			"offering": schema.StringAttribute{Required: true, MarkdownDescription: "The service of a broker's catalog (see the `paved_service_offerings` data source).",
				PlanModifiers: replace},
			"plan": schema.StringAttribute{Required: true, MarkdownDescription: "The offering's plan; changed in place when the plan is updateable."},
			"broker": schema.StringAttribute{Optional: true, Computed: true,
				MarkdownDescription: "The broker offering `offering`; needed only when two brokers offer a service of that name.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplaceIfConfigured()}},
			"parameters": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Parameters for the broker: a JSON object (use `jsonencode`); sent at creation and on change."},
			"guid": schema.StringAttribute{Computed: true, MarkdownDescription: "The instance's ID at the broker.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		},
		Blocks: map[string]schema.Block{"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true})},
	}
}

// Configure takes the provider's client.
func (r *ServiceInstanceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *ServiceInstanceResource) spec(m serviceInstanceModel, diags *diagnostics) paved.ServiceInstanceSpec {
	spec := paved.ServiceInstanceSpec{Name: m.Name.ValueString(), Offering: m.Offering.ValueString(), Plan: m.Plan.ValueString()}
	if !m.Broker.IsNull() && !m.Broker.IsUnknown() {
		spec.Broker = m.Broker.ValueString()
	}
	if p := m.Parameters.ValueString(); p != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(p), &obj); err != nil || obj == nil {
			diags.AddAttributeError(path.Root("parameters"), "Invalid parameters", "parameters must be a JSON object, e.g. jsonencode({ backup_every = \"24h\" })")
		}
		spec.Parameters = json.RawMessage(p)
	}
	return spec
}

func (r *ServiceInstanceResource) fill(m *serviceInstanceModel, in *paved.ServiceInstance) {
	m.ID = types.StringValue(in.Space + "/" + in.Name)
	m.Space, m.Name, m.Offering, m.Plan = types.StringValue(in.Space), types.StringValue(in.Name), types.StringValue(in.Offering), types.StringValue(in.Plan)
	m.Broker, m.GUID = types.StringValue(in.Broker), types.StringValue(in.GUID)
	// parameters stays as configured: the cell keeps what was sent.
	if m.Parameters.IsNull() && len(in.Parameters) > 0 && string(in.Parameters) != "{}" {
		m.Parameters = types.StringValue(string(in.Parameters))
	}
}

var instanceFields = map[string]string{}

// wait follows the instance's operation to its end; a failed one is an
// error with the broker's words.
func (r *ServiceInstanceResource) wait(ctx context.Context, space, name, verb string, diags *diagnostics) *paved.ServiceInstance {
	in, err := r.client.ServiceInstances.Wait(ctx, space, name)
	if err != nil {
		addError(diags, fmt.Sprintf("Could not %s service instance %s/%s", verb, space, name), err)
		return nil
	}
	if in.LastOperation.State == paved.OperationFailed {
		diags.AddError(fmt.Sprintf("Service instance %s/%s: %s failed", space, name, in.LastOperation.Type), in.LastOperation.Description)
	}
	return in
}

// Create provisions the instance and waits for the broker. A failed
// provision leaves the instance in state, tainted: the next apply
// replaces it.
func (r *ServiceInstanceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m serviceInstanceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	spec := r.spec(m, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Create(ctx, defaultServiceTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	space := m.Space.ValueString()
	in, err := r.client.ServiceInstances.Create(ctx, space, spec)
	if err != nil {
		serviceFieldError(&resp.Diagnostics, "Could not create service instance "+space+"/"+spec.Name, err, instanceFields)
		return
	}
	r.fill(&m, in)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
	if in = r.wait(ctx, space, spec.Name, "provision", &resp.Diagnostics); in != nil {
		r.fill(&m, in)
		resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
	}
}

// Update changes the plan or the parameters in place.
func (r *ServiceInstanceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m serviceInstanceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	spec := r.spec(m, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Update(ctx, defaultServiceTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	space := m.Space.ValueString()
	if spec.Parameters == nil {
		spec.Parameters = json.RawMessage("{}") // parameters removed
	}
	if _, err := r.client.ServiceInstances.Update(ctx, space, spec); err != nil {
		serviceFieldError(&resp.Diagnostics, "Could not update service instance "+space+"/"+spec.Name, err, instanceFields)
		return
	}
	if in := r.wait(ctx, space, spec.Name, "update", &resp.Diagnostics); in != nil && !resp.Diagnostics.HasError() {
		r.fill(&m, in)
		resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
	}
}

// Read refreshes the instance; one deleted outside leaves the state.
func (r *ServiceInstanceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m serviceInstanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	in, err := r.client.ServiceInstances.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		removeGone(ctx, resp, nil)
		return
	}
	if err != nil {
		addError(&resp.Diagnostics, "Could not read service instance "+m.ID.ValueString(), err)
		return
	}
	typedTimeouts(ctx, &m.Timeouts)
	r.fill(&m, in)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Delete deprovisions the instance and waits until the broker is done.
func (r *ServiceInstanceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m serviceInstanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Delete(ctx, defaultServiceTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	deleteAndWait(&resp.Diagnostics, "service instance "+m.ID.ValueString(),
		func() error { return r.client.ServiceInstances.Delete(ctx, space, name) },
		func() (paved.ServiceOperation, error) {
			in, err := r.client.ServiceInstances.Wait(ctx, space, name)
			if in == nil {
				return paved.ServiceOperation{}, err
			}
			return in.LastOperation, err
		})
}

// deleteAndWait starts the deletion of a service instance or binding and
// waits until the cell has no record of it any more (the broker is done);
// one that is gone already is fine, one the broker failed to delete an error.
func deleteAndWait(diags *diagnostics, what string, del func() error, wait func() (paved.ServiceOperation, error)) {
	if err := del(); err != nil {
		if !paved.IsNotFound(err) {
			addError(diags, "Could not delete "+what, err)
		}
		return
	}
	op, err := wait()
	switch {
	case paved.IsNotFound(err):
	case err != nil:
		addError(diags, "Could not delete "+what, err)
	default:
		diags.AddError("Could not delete "+what, op.Description)
	}
}

// ImportState imports by "space/name".
func (r *ServiceInstanceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importSpaceName(ctx, "service instance", req, resp)
}

// importSpaceName imports an object of a space by "space/name" into id.
func importSpaceName(ctx context.Context, what string, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	space, name, ok := strings.Cut(req.ID, "/")
	if !ok || validators.CheckName(space) != nil || validators.CheckName(name) != nil {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("import a %s as SPACE/NAME, not %q", what, req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
