package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// SpaceDataSource is data.paved_space.
type SpaceDataSource struct{ client *paved.Client }

// NewSpaceDataSource returns data.paved_space.
func NewSpaceDataSource() datasource.DataSource { return &SpaceDataSource{} }

// Metadata names the data source.
func (d *SpaceDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_space"
}

// Schema describes data.paved_space.
func (d *SpaceDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads a space.",
		Attributes: map[string]schema.Attribute{
			"id":     schema.StringAttribute{Computed: true, MarkdownDescription: "The space name."},
			"name":   schema.StringAttribute{Required: true, MarkdownDescription: "Space name.", Validators: []validator.String{validators.Name()}},
			"labels": schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Labels."},
		},
	}
}

// Configure takes the provider's client.
func (d *SpaceDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Read reads the space.
func (d *SpaceDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m spaceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sp, err := d.client.Spaces.Get(ctx, m.Name.ValueString())
	if err != nil {
		addError(&resp.Diagnostics, "Could not read space "+m.Name.ValueString(), err)
		return
	}
	m.ID = types.StringValue(sp.Name)
	m.Labels, _ = types.MapValueFrom(ctx, types.StringType, sp.Labels)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}
