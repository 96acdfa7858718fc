package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// RegionsDataSource is data.paved_regions.
type RegionsDataSource struct{ regions *paved.Regions }

// NewRegionsDataSource returns data.paved_regions.
func NewRegionsDataSource() datasource.DataSource { return &RegionsDataSource{} }

type regionsModel struct {
	Regions types.Map `tfsdk:"regions"`
}

type regionHealthModel struct {
	Endpoint   types.String `tfsdk:"endpoint"`
	Healthy    types.Bool   `tfsdk:"healthy"`
	Cloud      types.String `tfsdk:"cloud"`
	Version    types.String `tfsdk:"version"`
	RouterAddr types.String `tfsdk:"router_address"`
	RouterURL  types.String `tfsdk:"router_url"`
	TLS        types.Bool   `tfsdk:"tls"`
	Error      types.String `tfsdk:"error"`
}

var regionHealthType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"endpoint": types.StringType, "healthy": types.BoolType, "cloud": types.StringType,
	"version": types.StringType, "router_address": types.StringType, "router_url": types.StringType,
	"tls": types.BoolType, "error": types.StringType,
}}

// Metadata names the data source.
func (d *RegionsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_regions"
}

// Schema describes data.paved_regions.
func (d *RegionsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	s := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads the health of every cell in the provider's `regions`, in parallel with a short timeout each. " +
			"An unreachable region is reported (healthy = false, with the error), never an error of the data source.",
		Attributes: map[string]schema.Attribute{
			"regions": schema.MapNestedAttribute{
				Computed:            true,
				MarkdownDescription: "Every configured region by name.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"endpoint":       s("The cell API URL."),
					"healthy":        schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the cell answered and calls itself by this region name."},
					"cloud":          s("Cloud label of the cell."),
					"version":        s("paved version of the cell."),
					"router_address": s("host:port of the cell's router, as other cells reach it."),
					"router_url":     s("Base URL of the cell's router: `http://` or, on a TLS cell, `https://` and `router_address`."),
					"tls":            schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the cell's API and router speak HTTPS only."},
					"error":          s("Why the region is not healthy."),
				}},
			},
		},
	}
}

// Configure takes the provider's regions.
func (d *RegionsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.regions = regionsFrom(req.ProviderData, &resp.Diagnostics)
}

// Read asks every region for its health.
func (d *RegionsDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	byName := map[string]regionHealthModel{}
	for _, h := range d.regions.Health(ctx) {
		m := regionHealthModel{
			Endpoint: types.StringValue(h.Endpoint), Healthy: types.BoolValue(h.Healthy),
			Cloud: stringOrNull(h.Cloud), Version: stringOrNull(h.Version), RouterAddr: stringOrNull(h.RouterAddr),
			RouterURL: stringOrNull(paved.RouterURL(h.RouterAddr, h.RouterTLS)), TLS: types.BoolValue(h.RouterTLS),
			Error: types.StringNull(),
		}
		if h.Err != nil {
			m.Error = types.StringValue(h.Err.Error())
		}
		byName[h.Region] = m
	}
	regions, diags := types.MapValueFrom(ctx, regionHealthType, byName)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, regionsModel{Regions: regions})...)
}
