package provider

import (
	"context"

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

// ServiceBrokerResource is paved_service_broker.
type ServiceBrokerResource struct{ client *paved.Client }

var _ resource.ResourceWithImportState = (*ServiceBrokerResource)(nil)

// NewServiceBrokerResource returns paved_service_broker.
func NewServiceBrokerResource() resource.Resource { return &ServiceBrokerResource{} }

type serviceBrokerModel struct {
	ID                types.String `tfsdk:"id"`
	Name              types.String `tfsdk:"name"`
	URL               types.String `tfsdk:"url"`
	Username          types.String `tfsdk:"username"`
	PasswordWO        types.String `tfsdk:"password_wo"`
	PasswordWOVersion types.String `tfsdk:"password_wo_version"`
	Offerings         types.List   `tfsdk:"offerings"`
}

// Metadata names the resource.
func (r *ServiceBrokerResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_service_broker"
}

// Schema describes paved_service_broker.
func (r *ServiceBrokerResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An Open Service Broker API (v2.17) broker registered with the cell (admin token). The cell reads and checks its catalog " +
			"at every apply; its services become the offerings that `paved_service_instance` names.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The broker's name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{Required: true, MarkdownDescription: "Name: a DNS label. Changing it replaces the broker.",
				Validators: []validator.String{validators.Name()}, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"url":      schema.StringAttribute{Required: true, MarkdownDescription: "The broker's base URL (`/v2/…` is added), as the cell reaches it."},
			"username": schema.StringAttribute{Required: true, MarkdownDescription: "User name of the broker's HTTP basic auth."},
			"password_wo": schema.StringAttribute{Required: true, WriteOnly: true, Sensitive: true,
				MarkdownDescription: "Password of the broker's HTTP basic auth. Write-only: never in plan or state; the cell keeps it sealed. " +
					"Sent at creation and when `password_wo_version` changes."},
			"password_wo_version": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Change it to send a new `password_wo` (write-only values cannot be compared)."},
			"offerings": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "The names of the services of the broker's catalog."},
		},
	}
}

// Configure takes the provider's client.
func (r *ServiceBrokerResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// serviceFieldError points an API error at the attribute its field names
// (rename maps the API's names to the schema's).
func serviceFieldError(diags *diagnostics, summary string, err error, rename map[string]string) {
	if ae, ok := asAPIError(err); ok && ae.Field != "" {
		name := ae.Field
		if to, ok := rename[name]; ok {
			name = to
		}
		diags.AddAttributeError(path.Root(name), summary, ae.Message)
		return
	}
	addError(diags, summary, err)
}

var brokerFields = map[string]string{"password": "password_wo"}

func (r *ServiceBrokerResource) put(ctx context.Context, m *serviceBrokerModel, password string, diags *diagnostics, verb string) {
	spec := paved.ServiceBrokerSpec{Name: m.Name.ValueString(), URL: m.URL.ValueString(), Username: m.Username.ValueString(), Password: password}
	b, err := r.client.ServiceBrokers.Put(ctx, spec)
	if err != nil {
		serviceFieldError(diags, "Could not "+verb+" service broker "+spec.Name, err, brokerFields)
		return
	}
	r.fill(m, b)
}

func (r *ServiceBrokerResource) fill(m *serviceBrokerModel, b *paved.ServiceBroker) {
	m.ID, m.Name, m.URL, m.Username = types.StringValue(b.Name), types.StringValue(b.Name), types.StringValue(b.URL), types.StringValue(b.Username)
	offerings := make([]string, len(b.Offerings))
	copy(offerings, b.Offerings)
	m.Offerings, _ = types.ListValueFrom(context.Background(), types.StringType, offerings)
	m.PasswordWO = types.StringNull()
}

// Create registers the broker.
func (r *ServiceBrokerResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m serviceBrokerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	var password types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("password_wo"), &password)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.put(ctx, &m, password.ValueString(), &resp.Diagnostics, "register")
	if !resp.Diagnostics.HasError() {
		resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
	}
}

// Update re-registers the broker (re-reading its catalog); the password
// goes only when its version changed.
func (r *ServiceBrokerResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m, state serviceBrokerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	password := ""
	if !m.PasswordWOVersion.Equal(state.PasswordWOVersion) {
		var pw types.String
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("password_wo"), &pw)...)
		password = pw.ValueString()
	}
	if resp.Diagnostics.HasError() {
		return
	}
	r.put(ctx, &m, password, &resp.Diagnostics, "update")
	if !resp.Diagnostics.HasError() {
		resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
	}
}

// Read refreshes the broker; one unregistered outside leaves the state.
func (r *ServiceBrokerResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m serviceBrokerModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	b, err := r.client.ServiceBrokers.Get(ctx, m.ID.ValueString())
	if paved.IsNotFound(err) {
		removeGone(ctx, resp, nil)
		return
	}
	if err != nil {
		addError(&resp.Diagnostics, "Could not read service broker "+m.ID.ValueString(), err)
		return
	}
	r.fill(&m, b)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Delete unregisters the broker (the cell refuses while instances of it exist).
func (r *ServiceBrokerResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m serviceBrokerModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.client.ServiceBrokers.Delete(ctx, m.ID.ValueString()); err != nil && !paved.IsNotFound(err) {
		addError(&resp.Diagnostics, "Could not unregister service broker "+m.ID.ValueString(), err)
	}
}

// ImportState imports by name; password_wo_version starts unset.
func (r *ServiceBrokerResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}
