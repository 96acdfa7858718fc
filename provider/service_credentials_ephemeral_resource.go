package provider

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ServiceCredentialsEphemeralResource is the ephemeral
// paved_service_credentials: a service binding's credentials, read for one
// run (to configure another provider, e.g. PostgreSQL's), never in the plan
// or the state.
type ServiceCredentialsEphemeralResource struct{ client *paved.Client }

var _ ephemeral.EphemeralResourceWithConfigure = (*ServiceCredentialsEphemeralResource)(nil)

// NewServiceCredentialsEphemeralResource returns the ephemeral paved_service_credentials.
func NewServiceCredentialsEphemeralResource() ephemeral.EphemeralResource {
	return &ServiceCredentialsEphemeralResource{}
}

type serviceCredentialsModel struct {
	Space       types.String `tfsdk:"space"`
	Binding     types.String `tfsdk:"binding"`
	Credentials types.Map    `tfsdk:"credentials"`
	JSON        types.String `tfsdk:"json"`
}

// Metadata names the ephemeral resource.
func (r *ServiceCredentialsEphemeralResource) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_service_credentials"
}

// Schema describes the ephemeral paved_service_credentials.
func (r *ServiceCredentialsEphemeralResource) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The credentials of a service binding (`paved_service_binding`), read when the run needs them and never written " +
			"to the plan or the state: give them to another provider (e.g. `cyrilgdn/postgresql` to make schemas), to a write-only attribute " +
			"or to an ephemeral output. Needs a space developer or admin token, and Terraform 1.10 or OpenTofu 1.11 or later.",
		Attributes: map[string]schema.Attribute{
			"space":   schema.StringAttribute{Required: true, MarkdownDescription: "The binding's space."},
			"binding": schema.StringAttribute{Required: true, MarkdownDescription: "The binding's name."},
			"credentials": schema.MapAttribute{Computed: true, Sensitive: true, ElementType: types.StringType,
				MarkdownDescription: "The credentials, each value as text (numbers too: `port` is `\"5432\"`)."},
			"json": schema.StringAttribute{Computed: true, Sensitive: true,
				MarkdownDescription: "The credentials as the broker gave them, a JSON object (`jsondecode` it for nested values)."},
		},
	}
}

// Configure takes the provider's client.
func (r *ServiceCredentialsEphemeralResource) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Open reads the credentials.
func (r *ServiceCredentialsEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m serviceCredentialsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	space, name := m.Space.ValueString(), m.Binding.ValueString()
	creds, err := r.client.ServiceBindings.Credentials(ctx, space, name)
	if err != nil {
		addError(&resp.Diagnostics, "Could not read the credentials of service binding "+space+"/"+name, err)
		return
	}
	text := map[string]string{}
	for k, v := range creds {
		if s, ok := v.(string); ok {
			text[k] = s
			continue
		}
		b, _ := json.Marshal(v)
		text[k] = string(b)
	}
	raw, err := json.Marshal(creds)
	if err != nil {
		resp.Diagnostics.AddError("Unreadable credentials", fmt.Sprintf("service binding %s/%s: %v", space, name, err))
		return
	}
	m.Credentials, _ = types.MapValueFrom(ctx, types.StringType, text)
	m.JSON = types.StringValue(string(raw))
	resp.Diagnostics.Append(resp.Result.Set(ctx, m)...)
}
