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

// AppDataSource is data.paved_app.
type AppDataSource struct{ client *paved.Client }

// NewAppDataSource returns data.paved_app.
func NewAppDataSource() datasource.DataSource { return &AppDataSource{} }

type appDataModel struct {
	ID               types.String `tfsdk:"id"`
	Space            types.String `tfsdk:"space"`
	Name             types.String `tfsdk:"name"`
	SourceHash       types.String `tfsdk:"source_hash"`
	Command          types.String `tfsdk:"command"`
	Instances        types.Int64  `tfsdk:"instances"`
	RunningInstances types.Int64  `tfsdk:"running_instances"`
	Routes           types.List   `tfsdk:"routes"`
	URLs             types.List   `tfsdk:"urls"`
	Release          types.Int64  `tfsdk:"release"`
	LastGoodRelease  types.Int64  `tfsdk:"last_good_release"`
	Status           types.String `tfsdk:"status"`
	Message          types.String `tfsdk:"message"`
}

// Metadata names the data source.
func (d *AppDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_app"
}

// Schema describes data.paved_app.
func (d *AppDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	number := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads an app and what it runs.",
		Attributes: map[string]schema.Attribute{
			"id":                computed("`space/name`."),
			"space":             schema.StringAttribute{Required: true, MarkdownDescription: "Space of the app.", Validators: []validator.String{validators.Name()}},
			"name":              schema.StringAttribute{Required: true, MarkdownDescription: "App name.", Validators: []validator.String{validators.Name()}},
			"source_hash":       computed("sha256 of the source."),
			"command":           computed("Start command."),
			"instances":         number("Declared instances."),
			"running_instances": number("Instances passing their health check."),
			"routes":            schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Routes."},
			"urls":              schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "URLs of the routes."},
			"release":           number("The release the instances run."),
			"last_good_release": number("The newest release that rolled out healthy."),
			"status":            computed("Status."),
			"message":           computed("Why, when the app is not running."),
		},
	}
}

// Configure takes the provider's client.
func (d *AppDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Read reads the app.
func (d *AppDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m appDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	a, err := d.client.Apps.Get(ctx, m.Space.ValueString(), m.Name.ValueString())
	if err != nil {
		addError(&resp.Diagnostics, "Could not read app "+m.Space.ValueString()+"/"+m.Name.ValueString(), err)
		return
	}
	var full appModel
	resp.Diagnostics.Append(full.fill(ctx, a, a.SpecConfig())...)
	m.ID, m.SourceHash, m.Command = full.ID, full.SourceHash, full.Command
	m.Instances, m.RunningInstances = full.Instances, full.RunningInstances
	m.Routes, m.URLs = full.Routes, full.URLs
	if m.Routes.IsNull() {
		m.Routes, _ = types.ListValueFrom(ctx, types.StringType, []string{})
	}
	m.Release, m.LastGoodRelease, m.Status = full.Release, full.LastGoodRelease, full.Status
	m.Message = types.StringValue(a.Message)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}
