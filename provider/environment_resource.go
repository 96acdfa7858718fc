package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/planmodifiers"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// EnvironmentResource is paved_environment: a preview environment.
type EnvironmentResource struct{ client *paved.Client }

var (
	_ resource.ResourceWithImportState    = (*EnvironmentResource)(nil)
	_ resource.ResourceWithValidateConfig = (*EnvironmentResource)(nil)
)

// NewEnvironmentResource returns paved_environment.
func NewEnvironmentResource() resource.Resource { return &EnvironmentResource{} }

type environmentModel struct {
	ID               types.String                   `tfsdk:"id"`
	Name             types.String                   `tfsdk:"name"`
	FromSpace        types.String                   `tfsdk:"from_space"`
	TTL              types.String                   `tfsdk:"ttl"`
	DestroyOnSuccess types.Bool                     `tfsdk:"destroy_on_success"`
	Overrides        map[string]environmentOverride `tfsdk:"overrides"`
	URLs             types.Map                      `tfsdk:"urls"`
	ExpiresAt        types.String                   `tfsdk:"expires_at"`
}

type environmentOverride struct {
	Source    types.String `tfsdk:"source"`
	Instances types.Int64  `tfsdk:"instances"`
	Env       types.Map    `tfsdk:"env"`
}

// Metadata names the resource.
func (r *EnvironmentResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_environment"
}

// Schema describes paved_environment. An environment cannot change: every
// argument replaces it.
func (r *EnvironmentResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A preview environment: a new space holding every app of `from_space` at its last good release " +
			"(routes prefixed with the name), with overrides, destroyed by the cell when its `ttl` expires. It cannot change in place.",
		Attributes: map[string]schema.Attribute{
			"id":         schema.StringAttribute{Computed: true, MarkdownDescription: "The name.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name":       schema.StringAttribute{Required: true, MarkdownDescription: "Name (also the space's).", PlanModifiers: replace},
			"from_space": schema.StringAttribute{Required: true, MarkdownDescription: "The space to clone.", PlanModifiers: replace},
			"ttl": schema.StringAttribute{Required: true, MarkdownDescription: "Time to live (1s to 720h); the cell then destroys everything of it.",
				Validators:    []validator.String{validators.Duration(true)},
				PlanModifiers: []planmodifier.String{planmodifiers.SameDuration(), stringplanmodifier.RequiresReplace()}},
			"destroy_on_success": schema.BoolAttribute{Optional: true, MarkdownDescription: "A pipeline destroys it after a successful run.",
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplaceIf(otherBool,
					"Another value replaces the environment (false and unset are the same).",
					"Another value replaces the environment (`false` and unset are the same).")}},
			"overrides": schema.MapNestedAttribute{
				Optional: true, MarkdownDescription: "Per app of the space: a different `source` (directory, .tar.gz or .zip), `instances` or `env`. " +
					"The cell does not keep them, so the first apply after an import records the configured overrides as the ones " +
					"the environment was made with, in place; any later change replaces it.",
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplaceIf(changesOverrides,
					"A change replaces the environment; after an import the configured overrides are recorded.",
					"A change replaces the environment; after an import the configured overrides are recorded.")},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"source":    schema.StringAttribute{Optional: true, MarkdownDescription: "Source to run instead."},
					"instances": schema.Int64Attribute{Optional: true, MarkdownDescription: "Instances to run instead."},
					"env":       schema.MapAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Env merged over the app's."},
				}},
			},
			"urls":       schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "App → URL (send it to the cell's router).", PlanModifiers: []planmodifier.Map{mapplanmodifier.UseStateForUnknown()}},
			"expires_at": schema.StringAttribute{Computed: true, MarkdownDescription: "When the cell destroys it (RFC 3339).", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		},
	}
}

// otherBool: another value replaces the environment; false and null are
// the same (an import reads false as null).
func otherBool(_ context.Context, req planmodifier.BoolRequest, resp *boolplanmodifier.RequiresReplaceIfFuncResponse) {
	resp.RequiresReplace = req.PlanValue.IsUnknown() || req.PlanValue.ValueBool() != req.StateValue.ValueBool()
}

// changesOverrides: a change of the overrides replaces the environment,
// except on the first apply after an import, which records them (the
// import cannot read them: the state has none).
func changesOverrides(ctx context.Context, req planmodifier.MapRequest, resp *mapplanmodifier.RequiresReplaceIfFuncResponse) {
	resp.RequiresReplace = !req.StateValue.IsNull() || !imported(ctx, req.Private)
}

// Configure takes the provider's client.
func (r *EnvironmentResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Create clones the space, uploading override sources first.
func (r *EnvironmentResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m environmentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := paved.EnvironmentSpec{Name: m.Name.ValueString(), FromSpace: m.FromSpace.ValueString(), TTL: durationOf(m.TTL),
		DestroyOnSuccess: m.DestroyOnSuccess.ValueBool(), Overrides: map[string]paved.AppOverride{}}
	for app, o := range m.Overrides {
		var ov paved.AppOverride
		if !o.Source.IsNull() {
			data, _, err := paved.ReadSource(o.Source.ValueString())
			if err != nil {
				resp.Diagnostics.AddAttributeError(path.Root("overrides").AtMapKey(app).AtName("source"), "Cannot read the source", err.Error())
				return
			}
			if ov.Source, _, err = r.client.Sources.Ensure(ctx, data, nil); err != nil {
				addError(&resp.Diagnostics, "Could not upload the source", err)
				return
			}
		}
		if !o.Instances.IsNull() {
			n := int(o.Instances.ValueInt64())
			ov.Instances = &n
		}
		if !o.Env.IsNull() {
			resp.Diagnostics.Append(o.Env.ElementsAs(ctx, &ov.Env, false)...)
		}
		spec.Overrides[app] = ov
	}
	env, err := r.client.Environments.Create(ctx, spec)
	if err != nil {
		if apiErr, ok := asAPIError(err); ok && apiErr.Field != "" {
			resp.Diagnostics.AddAttributeError(environmentPath(apiErr.Field), "The cell refused the environment", apiErr.Message)
			return
		}
		addError(&resp.Diagnostics, "Could not create environment "+spec.Name, err)
		return
	}
	r.fill(ctx, &m, env)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// environmentPath maps a field of the library's or the cell's answer
// ("overrides.web.env.KEY") to its attribute.
func environmentPath(field string) path.Path { return fieldPath(field, nil, "overrides", "env") }

// ValidateConfig checks the environment by the library's rules
// (paved.EnvironmentSpec.Validate, which the cell refuses one by before
// it looks at its store), each problem at its attribute. What is not
// known yet is left to the plan that knows it, a ttl that is no duration
// to the attribute's validator, and the override sources (paths here) to
// Create.
func (r *EnvironmentResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var name, from, ttl types.String
	var overrides types.Map
	for at, v := range map[string]any{"name": &name, "from_space": &from, "ttl": &ttl, "overrides": &overrides} {
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root(at), v)...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	var skip skipped
	text := func(v types.String, field string) string {
		if v.IsUnknown() {
			skip.add(field)
		}
		return v.ValueString()
	}
	spec := paved.EnvironmentSpec{Name: text(name, "name"), FromSpace: text(from, "from_space")}
	if ttl.IsUnknown() || paved.CheckDuration(ttl.ValueString(), true) != nil {
		skip.add("ttl")
	} else {
		spec.TTL = durationOf(ttl)
	}
	if overrides.IsUnknown() {
		skip.add("overrides")
	}
	for app, v := range overrides.Elements() {
		o, ok := v.(types.Object)
		if !ok || o.IsUnknown() {
			skip.add("overrides." + app)
			continue
		}
		if spec.Overrides == nil {
			spec.Overrides = map[string]paved.AppOverride{}
		}
		var ov paved.AppOverride
		switch n, _ := o.Attributes()["instances"].(types.Int64); {
		case n.IsUnknown():
			skip.add("overrides." + app + ".instances")
		case !n.IsNull():
			i := int(n.ValueInt64())
			ov.Instances = &i
		}
		switch env, _ := o.Attributes()["env"].(types.Map); {
		case env.IsUnknown():
			skip.add("overrides." + app + ".env")
		case !env.IsNull():
			ov.Env = map[string]string{}
			for k := range env.Elements() {
				ov.Env[k] = "" // the library judges the names
			}
		}
		spec.Overrides[app] = ov
	}
	for _, fe := range spec.Validate() {
		if !skip.covers(fe.Field, nil) {
			resp.Diagnostics.AddAttributeError(environmentPath(fe.Field), "Invalid environment", fe.Message+".")
		}
	}
}

func (r *EnvironmentResource) fill(ctx context.Context, m *environmentModel, env *paved.Environment) {
	m.ID, m.Name, m.FromSpace = types.StringValue(env.Name), types.StringValue(env.Name), types.StringValue(env.FromSpace)
	m.TTL = durationString(env.TTL, m.TTL)
	m.DestroyOnSuccess = boolKeep(env.DestroyOnSuccess, m.DestroyOnSuccess)
	m.URLs, _ = types.MapValueFrom(ctx, types.StringType, env.URLs)
	m.ExpiresAt = types.StringValue(env.ExpiresAt.Format(time.RFC3339))
}

// Read refreshes the environment; one destroyed (expired) leaves the state.
func (r *EnvironmentResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m environmentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	env, err := r.client.Environments.Get(ctx, m.ID.ValueString())
	if paved.IsNotFound(err) {
		removeGone(ctx, resp, nil)
		return
	}
	if err != nil {
		addError(&resp.Diagnostics, "Could not read environment "+m.ID.ValueString(), err)
		return
	}
	r.fill(ctx, &m, env)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Update changes nothing on the cell: every change of the environment
// replaces it. What plans in place is only recorded: the overrides after
// an import, or another spelling of the same ttl or destroy_on_success.
func (r *EnvironmentResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m environmentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
	applied(ctx, resp.Private, &resp.Diagnostics)
}

// Delete destroys the environment and everything in it.
func (r *EnvironmentResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m environmentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.client.Environments.Delete(ctx, m.ID.ValueString()); err != nil && !paved.IsNotFound(err) {
		addError(&resp.Diagnostics, "Could not destroy environment "+m.ID.ValueString(), err)
	}
}

// ImportState imports by name; the first apply records the overrides
// (changesOverrides).
func (r *EnvironmentResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
	markImported(ctx, resp.Private, &resp.Diagnostics)
}
