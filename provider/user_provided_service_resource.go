package provider

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// UserProvidedServiceResource is paved_user_provided_service.
type UserProvidedServiceResource struct{ client *paved.Client }

var _ resource.ResourceWithImportState = (*UserProvidedServiceResource)(nil)

// NewUserProvidedServiceResource returns paved_user_provided_service.
func NewUserProvidedServiceResource() resource.Resource { return &UserProvidedServiceResource{} }

type userProvidedServiceModel struct {
	ID                   types.String `tfsdk:"id"`
	Space                types.String `tfsdk:"space"`
	Name                 types.String `tfsdk:"name"`
	CredentialsWO        types.String `tfsdk:"credentials_wo"`
	CredentialsWOVersion types.String `tfsdk:"credentials_wo_version"`
	Tags                 types.List   `tfsdk:"tags"`
}

// Metadata names the resource.
func (r *UserProvidedServiceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_user_provided_service"
}

// Schema describes paved_user_provided_service.
func (r *UserProvidedServiceResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A user-provided service: credentials you give (a database outside paved, an API's key) that apps bind to with " +
			"`paved_service_binding` like any service; they find them in `VCAP_SERVICES` under the label `user-provided`. No broker is involved.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`space/name`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"space": schema.StringAttribute{Required: true, MarkdownDescription: "The space.",
				Validators: []validator.String{validators.Name()}, PlanModifiers: replace},
			"name": schema.StringAttribute{Required: true, MarkdownDescription: "Name: a DNS label, unique among the space's service instances.",
				Validators: []validator.String{validators.Name()}, PlanModifiers: replace},
			"credentials_wo": schema.StringAttribute{Required: true, WriteOnly: true, Sensitive: true,
				MarkdownDescription: "The credentials, a JSON object (use `jsonencode`). Write-only: never in plan or state; the cell keeps them sealed. " +
					"Sent at creation and when `credentials_wo_version` (or `tags`) changes; the bound apps then roll out with them."},
			"credentials_wo_version": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Change it to send new `credentials_wo`."},
			"tags": schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Tags, for apps that look services up by tag."},
		},
	}
}

// Configure takes the provider's client.
func (r *UserProvidedServiceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// spec reads the plan and the write-only credentials from the config.
func (r *UserProvidedServiceResource) spec(ctx context.Context, m userProvidedServiceModel, config tfsdk.Config, diags *diagnostics) paved.ServiceInstanceSpec {
	spec := paved.ServiceInstanceSpec{Name: m.Name.ValueString(), Type: paved.ServiceUserProvided, Credentials: map[string]any{}}
	var raw types.String
	diags.Append(config.GetAttribute(ctx, path.Root("credentials_wo"), &raw)...)
	if err := json.Unmarshal([]byte(raw.ValueString()), &spec.Credentials); err != nil || spec.Credentials == nil {
		diags.AddAttributeError(path.Root("credentials_wo"), "Invalid credentials", "credentials_wo must be a JSON object, e.g. jsonencode({ uri = \"…\" })")
	}
	if !m.Tags.IsNull() {
		diags.Append(m.Tags.ElementsAs(ctx, &spec.Tags, false)...)
	}
	return spec
}

func (r *UserProvidedServiceResource) fill(m *userProvidedServiceModel, in *paved.ServiceInstance) {
	m.ID, m.Space, m.Name = types.StringValue(in.Space+"/"+in.Name), types.StringValue(in.Space), types.StringValue(in.Name)
	m.CredentialsWO = types.StringNull()
	if len(in.Tags) > 0 || !m.Tags.IsNull() {
		m.Tags, _ = types.ListValueFrom(context.Background(), types.StringType, in.Tags)
	}
}

// Create records the service.
func (r *UserProvidedServiceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m userProvidedServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	spec := r.spec(ctx, m, req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	in, err := r.client.ServiceInstances.Create(ctx, m.Space.ValueString(), spec)
	if err != nil {
		serviceFieldError(&resp.Diagnostics, "Could not create user-provided service "+m.Space.ValueString()+"/"+spec.Name, err, map[string]string{"credentials": "credentials_wo"})
		return
	}
	r.fill(&m, in)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Update sends the credentials and tags again.
func (r *UserProvidedServiceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m userProvidedServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	spec := r.spec(ctx, m, req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	in, err := r.client.ServiceInstances.Update(ctx, m.Space.ValueString(), spec)
	if err != nil {
		serviceFieldError(&resp.Diagnostics, "Could not update user-provided service "+m.Space.ValueString()+"/"+spec.Name, err, map[string]string{"credentials": "credentials_wo"})
		return
	}
	r.fill(&m, in)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Read refreshes the service; one deleted outside leaves the state.
func (r *UserProvidedServiceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m userProvidedServiceModel
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
		addError(&resp.Diagnostics, "Could not read user-provided service "+m.ID.ValueString(), err)
		return
	}
	if !in.UserProvided() {
		resp.Diagnostics.AddError("Not a user-provided service", m.ID.ValueString()+" is a managed service instance: import it as paved_service_instance")
		return
	}
	r.fill(&m, in)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Delete removes the service (the cell refuses while bindings exist).
func (r *UserProvidedServiceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m userProvidedServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	if err := r.client.ServiceInstances.Delete(ctx, space, name); err != nil && !paved.IsNotFound(err) {
		addError(&resp.Diagnostics, "Could not delete user-provided service "+m.ID.ValueString(), err)
	}
}

// ImportState imports by "space/name".
func (r *UserProvidedServiceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importSpaceName(ctx, "user-provided service", req, resp)
}
