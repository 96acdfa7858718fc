package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// CellDataSource is data.paved_cell.
type CellDataSource struct{ client *paved.Client }

// NewCellDataSource returns data.paved_cell.
func NewCellDataSource() datasource.DataSource { return &CellDataSource{} }

type cellModel struct {
	Endpoint             types.String `tfsdk:"endpoint"`
	Region               types.String `tfsdk:"region"`
	Cloud                types.String `tfsdk:"cloud"`
	Version              types.String `tfsdk:"version"`
	RouterAddr           types.String `tfsdk:"router_address"`
	RouterURL            types.String `tfsdk:"router_url"`
	TLS                  types.Bool   `tfsdk:"tls"`
	Apps                 types.Int64  `tfsdk:"apps"`
	HealthyInstances     types.Int64  `tfsdk:"healthy_instances"`
	MemoryLimitsEnforced types.Bool   `tfsdk:"memory_limits_enforced"`
}

// Metadata names the data source.
func (d *CellDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_cell"
}

// Schema describes data.paved_cell.
func (d *CellDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	s := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads the health and version of the configured cell.",
		Attributes: map[string]schema.Attribute{
			"endpoint":               s("The cell API URL."),
			"region":                 s("Region name."),
			"cloud":                  s("Cloud label."),
			"version":                s("paved version of the cell."),
			"router_address":         s("host:port of the cell's router."),
			"router_url":             s("Base URL of the cell's router: `http://` or, on a TLS cell, `https://` and `router_address`."),
			"tls":                    schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the cell's API and router speak HTTPS only (`paved server --tls-cert`)."},
			"apps":                   schema.Int64Attribute{Computed: true, MarkdownDescription: "Number of apps."},
			"healthy_instances":      schema.Int64Attribute{Computed: true, MarkdownDescription: "Instances passing their health check."},
			"memory_limits_enforced": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether `memory_mb` is enforced."},
		},
	}
}

// Configure takes the provider's client.
func (d *CellDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Read reads the cell's health.
func (d *CellDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	h, err := d.client.Health(ctx)
	if err != nil {
		addError(&resp.Diagnostics, "Could not read the cell", err)
		return
	}
	m := cellModel{
		Endpoint: types.StringValue(d.client.Endpoint()), Region: types.StringValue(h.Region), Cloud: types.StringValue(h.Cloud),
		Version: types.StringValue(h.Version), RouterAddr: types.StringValue(h.RouterAddr),
		RouterURL: types.StringValue(h.RouterURL()), TLS: types.BoolValue(h.TLS),
		Apps: types.Int64Value(int64(h.Counts.Apps)), HealthyInstances: types.Int64Value(int64(h.Counts.HealthyInstances)),
		MemoryLimitsEnforced: types.BoolValue(h.MemoryLimitsEnforced),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}
