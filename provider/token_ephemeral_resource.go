package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TokenEphemeralResource is the ephemeral paved_token: a short-lived token
// minted when Terraform opens it, renewed while the run needs it and
// revoked when the run closes it. It is never in the plan or the state.
type TokenEphemeralResource struct{ client *paved.Client }

var (
	_ ephemeral.EphemeralResourceWithConfigure      = (*TokenEphemeralResource)(nil)
	_ ephemeral.EphemeralResourceWithRenew          = (*TokenEphemeralResource)(nil)
	_ ephemeral.EphemeralResourceWithClose          = (*TokenEphemeralResource)(nil)
	_ ephemeral.EphemeralResourceWithValidateConfig = (*TokenEphemeralResource)(nil)
)

// NewTokenEphemeralResource returns the ephemeral paved_token.
func NewTokenEphemeralResource() ephemeral.EphemeralResource { return &TokenEphemeralResource{} }

// defaultEphemeralTokenTTL is the lifetime of an ephemeral token whose
// configuration sets none: long enough for a plan or an apply between
// renewals, short enough that a token a killed run could not revoke dies
// soon.
const defaultEphemeralTokenTTL = 15 * time.Minute

// privateTokenID is the key of the token's id in the private data that
// Terraform hands from Open to Renew and Close.
const privateTokenID = "token_id"

type tokenEphemeralModel struct {
	ID        types.String `tfsdk:"id"`
	Name      types.String `tfsdk:"name"`
	Role      types.String `tfsdk:"role"`
	Space     types.String `tfsdk:"space"`
	TTL       types.String `tfsdk:"ttl"`
	Secret    types.String `tfsdk:"secret"`
	ExpiresAt types.String `tfsdk:"expires_at"`
}

// Metadata names the ephemeral resource paved_token, as the managed one:
// the two live in separate namespaces (ephemeral.paved_token.NAME).
func (r *TokenEphemeralResource) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_token"
}

// Schema describes the ephemeral paved_token.
func (r *TokenEphemeralResource) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A short-lived API token of a cell, for one Terraform run: opening it creates a token with a role " +
			"and a lifetime (`ttl`) and a fresh random secret, the run renews it before it expires for as long as it needs it, " +
			"and closing it revokes it. Neither the token nor its secret is ever in the plan or the state. " +
			"Use it to configure a second `paved` provider (an alias, or one passed to a module) that acts with a narrower role " +
			"than the admin token, e.g. a `space_developer` of one space. Needs Terraform 1.10 or OpenTofu 1.11 or later. " +
			"Creating, renewing and revoking it takes an admin token in the provider that opens it. " +
			"For a long-lived token, kept in the state, use the `paved_token` resource.",
		Attributes: map[string]schema.Attribute{
			"name": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Name, shown in the audit trail as who made each change.",
			},
			"role": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "`admin`, `space_developer`, `space_auditor` or `pipeline_operator`.",
			},
			"space": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "The space a space role is scoped to: required for the space roles, not allowed for `admin`.",
			},
			"ttl": schema.StringAttribute{
				Optional: true, Computed: true,
				MarkdownDescription: fmt.Sprintf("The token's lifetime, a Go duration from `%s` to `%s`; defaults to `%s`. "+
					"The run renews it by as much again before it expires, so it outlives a long apply; once the run ends it is revoked.",
					fmtDuration(paved.MinTokenTTL), fmtDuration(paved.MaxTokenTTL), fmtDuration(defaultEphemeralTokenTTL)),
			},
			"id": schema.StringAttribute{
				Computed: true, MarkdownDescription: "The token's id (`tok_…`).",
			},
			"secret": schema.StringAttribute{
				Computed: true, Sensitive: true,
				MarkdownDescription: "The token's secret, a fresh random one (the cell keeps only its sha256): the `token` of a provider block.",
			},
			"expires_at": schema.StringAttribute{
				Computed: true, MarkdownDescription: "When the token expires unless renewed (RFC 3339).",
			},
		},
	}
}

// fmtDuration writes d as users write it ("15m", not "15m0s").
func fmtDuration(d time.Duration) string {
	s := d.String()
	for _, unit := range []string{"m0s", "h0m"} {
		if len(s) > len(unit) && s[len(s)-len(unit):] == unit {
			s = s[:len(s)-len(unit)+1]
		}
	}
	return s
}

// Configure takes the provider's client.
func (r *TokenEphemeralResource) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig runs the cell's checks on every known value, at plan.
func (r *TokenEphemeralResource) ValidateConfig(ctx context.Context, req ephemeral.ValidateConfigRequest, resp *ephemeral.ValidateConfigResponse) {
	var m tokenEphemeralModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	validateTokenScope(m.Name, m.Role, m.Space, &resp.Diagnostics)
	if !m.TTL.IsUnknown() && !m.TTL.IsNull() {
		if _, err := parseTokenTTL(m.TTL.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("ttl"), "Invalid ttl", err.Error())
		}
	}
}

// parseTokenTTL reads a ttl and checks it is within the cell's bounds.
func parseTokenTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (examples: \"15m\", \"1h\")", s)
	}
	return d, paved.CheckTokenTTL(paved.Duration(d))
}

// newEphemeralSecret is a fresh secret of 32 random bytes, in the cell's
// own format.
func newEphemeralSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "pvt_" + hex.EncodeToString(b), nil
}

// renewAt is when Terraform should renew a token expiring at expires with
// lifetime ttl: when a third of the lifetime is left, which leaves room
// for a slow cell or a retry.
func renewAt(expires time.Time, ttl time.Duration) time.Time {
	return expires.Add(-ttl / 3)
}

// Open creates the token.
func (r *TokenEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m tokenEphemeralModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.client == nil {
		resp.Diagnostics.AddError("Provider not configured", "the paved provider opening paved_token has no client; this is a bug in the provider")
		return
	}
	ttl := defaultEphemeralTokenTTL
	if !m.TTL.IsNull() {
		d, err := parseTokenTTL(m.TTL.ValueString())
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("ttl"), "Invalid ttl", err.Error())
			return
		}
		ttl = d
	}
	secret, err := newEphemeralSecret()
	if err != nil {
		resp.Diagnostics.AddError("Could not generate a token secret", err.Error())
		return
	}
	spec := paved.TokenSpec{Name: m.Name.ValueString(), Role: paved.Role(m.Role.ValueString()), Space: m.Space.ValueString(),
		Secret: secret, TTL: paved.Duration(ttl)}
	t, err := r.client.Tokens.Create(ctx, spec)
	if err != nil {
		addEphemeralTokenError(&resp.Diagnostics, "Could not create token "+spec.Name, err)
		return
	}
	if t.ExpiresAt == nil {
		// A cell from before token lifetimes ignores the ttl: the token
		// would outlive the run if Close never came.
		_ = r.client.Tokens.Revoke(ctx, t.ID)
		resp.Diagnostics.AddError("The cell does not support short-lived tokens",
			fmt.Sprintf("token %s was created without an expiry, so it was revoked again: upgrade the cell to one that knows token ttls", t.ID))
		return
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateTokenID, mustJSONString(t.ID))...)
	m.ID = types.StringValue(t.ID)
	m.TTL = types.StringValue(fmtDuration(ttl))
	m.Secret = types.StringValue(secret)
	m.ExpiresAt = types.StringValue(t.ExpiresAt.UTC().Format(time.RFC3339))
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
	resp.RenewAt = renewAt(*t.ExpiresAt, ttl)
}

// mustJSONString is s as a JSON string (private data values are JSON).
func mustJSONString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// privateID reads the token id that Open put in the private data.
func privateID(ctx context.Context, get func(context.Context, string) ([]byte, diag.Diagnostics), diags *diag.Diagnostics) string {
	raw, d := get(ctx, privateTokenID)
	diags.Append(d...)
	var id string
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &id); err != nil {
			diags.AddError("Invalid private data", "the token id is not a JSON string; this is a bug in the provider: "+err.Error())
		}
	}
	if id == "" && !diags.HasError() {
		diags.AddError("No token id", "the private data of paved_token holds no token id; this is a bug in the provider")
	}
	return id
}

// Renew extends the token's lifetime by its own ttl from now.
func (r *TokenEphemeralResource) Renew(ctx context.Context, req ephemeral.RenewRequest, resp *ephemeral.RenewResponse) {
	id := privateID(ctx, req.Private.GetKey, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	t, err := r.client.Tokens.Renew(ctx, id, 0)
	if err != nil {
		addError(&resp.Diagnostics, "Could not renew token "+id, err)
		return
	}
	if t.ExpiresAt != nil {
		resp.RenewAt = renewAt(*t.ExpiresAt, t.TTL.D())
	}
}

// Close revokes the token: it is refused from the next request on.
func (r *TokenEphemeralResource) Close(ctx context.Context, req ephemeral.CloseRequest, resp *ephemeral.CloseResponse) {
	id := privateID(ctx, req.Private.GetKey, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.client.Tokens.Revoke(ctx, id); err != nil && !paved.IsNotFound(err) {
		addError(&resp.Diagnostics, "Could not revoke token "+id, err)
	}
}

// addEphemeralTokenError points a refusal about a field at its attribute.
func addEphemeralTokenError(diags *diagnostics, summary string, err error) {
	if apiErr, ok := asAPIError(err); ok {
		switch apiErr.Field {
		case "name", "role", "space", "ttl":
			diags.AddAttributeError(path.Root(apiErr.Field), summary, apiErr.Message)
			return
		}
	}
	addError(diags, summary, err)
}
