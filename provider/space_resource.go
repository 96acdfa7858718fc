package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// SpaceResource is paved_space.
type SpaceResource struct{ client *paved.Client }

var (
	_ resource.ResourceWithImportState = (*SpaceResource)(nil)
	_ resource.ResourceWithIdentity    = (*SpaceResource)(nil)
)

// NewSpaceResource returns paved_space.
func NewSpaceResource() resource.Resource { return &SpaceResource{} }

type spaceModel struct {
	ID     types.String `tfsdk:"id"`
	Name   types.String `tfsdk:"name"`
	Labels types.Map    `tfsdk:"labels"`
}

type spaceIdentity struct {
	Name types.String `tfsdk:"name"`
}

// Metadata names the resource.
func (r *SpaceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_space"
}

// Schema describes paved_space.
func (r *SpaceResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A space groups apps on a cell; preview environments clone spaces and roles are scoped to them.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed: true, MarkdownDescription: "The space name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required: true, MarkdownDescription: "Name: a DNS label. Changing it replaces the space.",
				Validators:    []validator.String{validators.Name()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"labels": schema.MapAttribute{
				Optional: true, ElementType: types.StringType, MarkdownDescription: "Free-form labels.",
			},
		},
	}
}

// IdentitySchema is the space's identity: its name.
func (r *SpaceResource) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = identityschema.Schema{Attributes: map[string]identityschema.Attribute{
		"name": identityschema.StringAttribute{RequiredForImport: true, Description: "Space name."},
	}}
}

// Configure takes the provider's client.
func (r *SpaceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *SpaceResource) spec(ctx context.Context, m spaceModel) (paved.SpaceSpec, bool) {
	spec := paved.SpaceSpec{Name: m.Name.ValueString()}
	if !m.Labels.IsNull() {
		if diags := m.Labels.ElementsAs(ctx, &spec.Labels, false); diags.HasError() {
			return spec, false
		}
	}
	return spec, true
}

func (r *SpaceResource) fill(ctx context.Context, m *spaceModel, sp *paved.Space) {
	m.ID = types.StringValue(sp.Name)
	m.Name = types.StringValue(sp.Name)
	if len(sp.Labels) > 0 || !m.Labels.IsNull() {
		m.Labels, _ = types.MapValueFrom(ctx, types.StringType, sp.Labels)
	}
}

// Create makes the space.
func (r *SpaceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.write(ctx, req.Plan, &resp.State, resp.Identity, &resp.Diagnostics, "create", func(spec paved.SpaceSpec) (*paved.Space, error) {
		return r.client.Spaces.Create(ctx, spec)
	})
}

// Update changes the labels.
func (r *SpaceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.write(ctx, req.Plan, &resp.State, resp.Identity, &resp.Diagnostics, "update", func(spec paved.SpaceSpec) (*paved.Space, error) {
		if spec.Labels == nil {
			spec.Labels = map[string]string{} // removing every label
		}
		return r.client.Spaces.Update(ctx, spec)
	})
}

// write sends the plan with call and records the answer in state and identity.
func (r *SpaceResource) write(ctx context.Context, plan tfsdk.Plan, state *tfsdk.State, identity *tfsdk.ResourceIdentity,
	diags *diagnostics, verb string, call func(paved.SpaceSpec) (*paved.Space, error)) {
	var m spaceModel
	diags.Append(plan.Get(ctx, &m)...)
	spec, ok := r.spec(ctx, m)
	if diags.HasError() || !ok {
		return
	}
	sp, err := call(spec)
	if err != nil {
		addError(diags, "Could not "+verb+" space "+spec.Name, err)
		return
	}
	r.save(ctx, &m, sp, state, identity, diags)
}

// save records a space read from the cell.
func (r *SpaceResource) save(ctx context.Context, m *spaceModel, sp *paved.Space, state *tfsdk.State, identity *tfsdk.ResourceIdentity, diags *diagnostics) {
	r.fill(ctx, m, sp)
	diags.Append(state.Set(ctx, m)...)
	diags.Append(identity.Set(ctx, spaceIdentity{Name: m.Name})...)
}

// Read refreshes the space; a space deleted outside leaves the state.
func (r *SpaceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m spaceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sp, err := r.client.Spaces.Get(ctx, m.ID.ValueString())
	if paved.IsNotFound(err) {
		removeGone(ctx, resp, spaceIdentity{Name: m.Name})
		return
	}
	if err != nil {
		addError(&resp.Diagnostics, "Could not read space "+m.ID.ValueString(), err)
		return
	}
	r.save(ctx, &m, sp, &resp.State, resp.Identity, &resp.Diagnostics)
}

// Delete removes the space (it must hold no apps).
func (r *SpaceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m spaceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.client.Spaces.Delete(ctx, m.ID.ValueString()); err != nil && !paved.IsNotFound(err) {
		addError(&resp.Diagnostics, "Could not delete space "+m.ID.ValueString(), err)
	}
}

// ImportState imports by name, or by identity.
func (r *SpaceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if req.ID != "" {
		if err := validators.CheckName(req.ID); err != nil {
			resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("import a space by its name: %v", err))
			return
		}
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
		return
	}
	var id spaceIdentity
	resp.Diagnostics.Append(req.Identity.Get(ctx, &id)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id.Name.ValueString())...)
}
