package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TokenResource is paved_token.
type TokenResource struct{ client *paved.Client }

var (
	_ resource.ResourceWithImportState    = (*TokenResource)(nil)
	_ resource.ResourceWithIdentity       = (*TokenResource)(nil)
	_ resource.ResourceWithValidateConfig = (*TokenResource)(nil)
)

// NewTokenResource returns paved_token.
func NewTokenResource() resource.Resource { return &TokenResource{} }

type tokenModel struct {
	ID              types.String `tfsdk:"id"`
	Name            types.String `tfsdk:"name"`
	Role            types.String `tfsdk:"role"`
	Space           types.String `tfsdk:"space"`
	SecretWO        types.String `tfsdk:"secret_wo"`
	SecretWOVersion types.Int64  `tfsdk:"secret_wo_version"`
	CreatedAt       types.String `tfsdk:"created_at"`
}

type tokenIdentity struct {
	ID types.String `tfsdk:"id"`
}

// Metadata names the resource.
func (r *TokenResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_token"
}

// Schema describes paved_token.
func (r *TokenResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An API token of a cell with a role: `admin` (everything), `space_developer` (everything inside one space), " +
			"`space_auditor` (read one space) or `pipeline_operator` (read one space and set its pipelines). " +
			"The secret comes from the configuration (`secret_wo`, e.g. an ephemeral variable or an ephemeral `random_password`) " +
			"and is never in the plan or the state; the cell keeps only its sha256. " +
			"The cell never accepts a secret twice, not even one of a revoked token: a replacement (a new `name`, `role` or `space`, " +
			"or a bumped `secret_wo_version`) needs a new secret. " +
			"For a token that lives for one run only (never in the state, revoked when the run ends), use the ephemeral `paved_token`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed: true, MarkdownDescription: "The token's id (`tok_…`).",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required: true, MarkdownDescription: "Name, shown in the audit trail as who made each change. Changing it replaces the token.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"role": schema.StringAttribute{
				Required: true, MarkdownDescription: "`admin`, `space_developer`, `space_auditor` or `pipeline_operator`. Changing it replaces the token.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"space": schema.StringAttribute{
				Optional: true, MarkdownDescription: "The space a space role is scoped to: required for the space roles, not allowed for `admin`. Changing it replaces the token.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"secret_wo": schema.StringAttribute{
				Required: true, WriteOnly: true, Sensitive: true,
				MarkdownDescription: "The token's secret: at least 32 printable characters without spaces. Write-only: never in plan or state, " +
					"so a change of it alone changes nothing; bump `secret_wo_version` to rotate.",
			},
			"secret_wo_version": schema.Int64Attribute{
				Optional: true,
				MarkdownDescription: "Bump it to rotate: the token is revoked and a new one is created with the current `secret_wo`. " +
					"When the state has none (an imported token), setting it only records it: the token keeps its secret.",
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplaceIf(rotates,
					"A new secret_wo_version revokes the token and creates one with the current secret_wo.",
					"A new `secret_wo_version` revokes the token and creates one with the current `secret_wo`.")},
			},
			"created_at": schema.StringAttribute{
				Computed: true, MarkdownDescription: "When the token was created (RFC 3339).",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

// rotates: a changed secret_wo_version replaces the token, except when the
// state has none (an imported token), which only records it.
func rotates(_ context.Context, req planmodifier.Int64Request, resp *int64planmodifier.RequiresReplaceIfFuncResponse) {
	resp.RequiresReplace = !req.StateValue.IsNull()
}

// IdentitySchema is the token's identity: its id.
func (r *TokenResource) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = identityschema.Schema{Attributes: map[string]identityschema.Attribute{
		"id": identityschema.StringAttribute{RequiredForImport: true, Description: "Token id (tok_…)."},
	}}
}

// Configure takes the provider's client.
func (r *TokenResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// tokenAttribute maps a TokenSpec field onto its attribute.
func tokenAttribute(field string) path.Path {
	if field == "secret" {
		return path.Root("secret_wo")
	}
	return path.Root(field)
}

// ValidateConfig runs the cell's checks at plan time, on every known value:
// the role, the space it needs (or must not have) and the secret.
func (r *TokenResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m tokenModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	validateTokenScope(m.Name, m.Role, m.Space, &resp.Diagnostics)
	if !m.SecretWO.IsUnknown() && !m.SecretWO.IsNull() {
		if err := paved.CheckTokenSecret(m.SecretWO.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("secret_wo"), "Invalid secret", err.Error())
		}
	}
}

// validateTokenScope checks a token's name, role and space (the managed
// and the ephemeral paved_token share them), on every known value.
func validateTokenScope(name, role, space types.String, diags *diagnostics) {
	if !name.IsUnknown() && !name.IsNull() {
		if err := paved.CheckTokenName(name.ValueString()); err != nil {
			diags.AddAttributeError(path.Root("name"), "Invalid token name", err.Error())
		}
	}
	if !role.IsUnknown() && !role.IsNull() {
		r := paved.Role(role.ValueString())
		if field, err := paved.CheckRole(r, ""); field == "role" {
			diags.AddAttributeError(path.Root("role"), "Invalid role", err.Error())
		} else if !space.IsUnknown() {
			if field, err := paved.CheckRole(r, space.ValueString()); err != nil {
				diags.AddAttributeError(tokenAttribute(field), "Invalid space for role "+string(r), err.Error())
			}
		}
	}
}

// Create makes the token with the configured secret; the secret goes to
// the cell and nowhere else.
func (r *TokenResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan tokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	var secret types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("secret_wo"), &secret)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := paved.TokenSpec{Name: plan.Name.ValueString(), Role: paved.Role(plan.Role.ValueString()),
		Space: plan.Space.ValueString(), Secret: secret.ValueString()}
	t, err := r.client.Tokens.Create(ctx, spec)
	if err != nil {
		addTokenError(&resp.Diagnostics, "Could not create token "+spec.Name, err)
		return
	}
	r.save(ctx, &plan, t, &resp.State, resp.Identity, &resp.Diagnostics)
}

// addTokenError points a refusal about a field at its attribute.
func addTokenError(diags *diagnostics, summary string, err error) {
	if apiErr, ok := asAPIError(err); ok && apiErr.Field != "" {
		switch apiErr.Field {
		case "name", "role", "space", "secret":
			diags.AddAttributeError(tokenAttribute(apiErr.Field), summary, apiErr.Message)
			return
		}
	}
	addError(diags, summary, err)
}

// save records a token read from the cell; secret_wo is never saved.
func (r *TokenResource) save(ctx context.Context, m *tokenModel, t *paved.Token, state *tfsdk.State, identity *tfsdk.ResourceIdentity, diags *diagnostics) {
	m.ID = types.StringValue(t.ID)
	m.Name = types.StringValue(t.Name)
	m.Role = types.StringValue(string(t.Role))
	m.Space = types.StringNull()
	if t.Space != "" {
		m.Space = types.StringValue(t.Space)
	}
	m.SecretWO = types.StringNull()
	m.CreatedAt = types.StringValue(t.CreatedAt.UTC().Format(time.RFC3339))
	diags.Append(state.Set(ctx, m)...)
	diags.Append(identity.Set(ctx, tokenIdentity{ID: m.ID})...)
}

// Read refreshes the token; one deleted or revoked outside leaves the state.
func (r *TokenResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m tokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	t, err := r.client.Tokens.Get(ctx, m.ID.ValueString())
	if paved.IsNotFound(err) || (err == nil && t.Revoked()) {
		removeGone(ctx, resp, tokenIdentity{ID: m.ID})
		return
	}
	if err != nil {
		addError(&resp.Diagnostics, "Could not read token "+m.ID.ValueString(), err)
		return
	}
	r.save(ctx, &m, t, &resp.State, resp.Identity, &resp.Diagnostics)
}

// Update only records a secret_wo_version set on an imported token: every
// other change replaces the token.
func (r *TokenResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan tokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.SecretWO = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Identity.Set(ctx, tokenIdentity{ID: plan.ID})...)
}

// Delete revokes the token; it is refused from the next request on.
func (r *TokenResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m tokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.client.Tokens.Revoke(ctx, m.ID.ValueString()); err != nil && !paved.IsNotFound(err) {
		addError(&resp.Diagnostics, "Could not revoke token "+m.ID.ValueString(), err)
	}
}

// ImportState imports by id, or by identity. The secret cannot be read
// back: it stays the one the token was created with.
func (r *TokenResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := req.ID
	if id == "" {
		var ident tokenIdentity
		resp.Diagnostics.Append(req.Identity.Get(ctx, &ident)...)
		if resp.Diagnostics.HasError() {
			return
		}
		id = ident.ID.ValueString()
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
}
