package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/datasourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// ReleaseDataSource is data.paved_release.
type ReleaseDataSource struct{ client *paved.Client }

var _ datasource.DataSourceWithConfigValidators = (*ReleaseDataSource)(nil)

// NewReleaseDataSource returns data.paved_release.
func NewReleaseDataSource() datasource.DataSource { return &ReleaseDataSource{} }

type releaseModel struct {
	Space      types.String `tfsdk:"space"`
	App        types.String `tfsdk:"app"`
	Number     types.Int64  `tfsdk:"number"`
	LastGood   types.Bool   `tfsdk:"last_good"`
	Status     types.String `tfsdk:"status"`
	Reason     types.String `tfsdk:"reason"`
	SourceHash types.String `tfsdk:"source_hash"`
	Droplet    types.String `tfsdk:"droplet"`
	Command    types.String `tfsdk:"command"`
	CreatedAt  types.String `tfsdk:"created_at"`
}

// Metadata names the data source.
func (d *ReleaseDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_release"
}

// Schema describes data.paved_release.
func (d *ReleaseDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads one release of an app: by `number`, or the last good one with `last_good = true`.",
		Attributes: map[string]schema.Attribute{
			"space":       schema.StringAttribute{Required: true, MarkdownDescription: "Space of the app.", Validators: []validator.String{validators.Name()}},
			"app":         schema.StringAttribute{Required: true, MarkdownDescription: "App name.", Validators: []validator.String{validators.Name()}},
			"number":      schema.Int64Attribute{Optional: true, Computed: true, MarkdownDescription: "Release number."},
			"last_good":   schema.BoolAttribute{Optional: true, MarkdownDescription: "Read the app's last good release."},
			"status":      computed("deploying, good, failed, rolled_back or superseded."),
			"reason":      computed("Why it failed, in one sentence."),
			"source_hash": computed("sha256 of the source."),
			"droplet":     computed("Droplet digest."),
			"command":     computed("Start command."),
			"created_at":  computed("When it was cut (RFC 3339)."),
		},
	}
}

// ConfigValidators: exactly one of number and last_good.
func (d *ReleaseDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return []datasource.ConfigValidator{datasourcevalidator.ExactlyOneOf(path.MatchRoot("number"), path.MatchRoot("last_good"))}
}

// Configure takes the provider's client.
func (d *ReleaseDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Read finds the release.
func (d *ReleaseDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m releaseModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	space, app := m.Space.ValueString(), m.App.ValueString()
	want := int(m.Number.ValueInt64())
	if m.LastGood.ValueBool() {
		a, err := d.client.Apps.Get(ctx, space, app)
		if err != nil {
			addError(&resp.Diagnostics, "Could not read app "+space+"/"+app, err)
			return
		}
		if want = a.LastGoodRelease; want == 0 {
			resp.Diagnostics.AddError("No good release", fmt.Sprintf("app %s/%s has no release that rolled out healthy yet", space, app))
			return
		}
	}
	rels, err := d.client.Releases.List(ctx, space, app)
	if err != nil {
		addError(&resp.Diagnostics, "Could not read the releases of "+space+"/"+app, err)
		return
	}
	for _, r := range rels {
		if r.Number != want {
			continue
		}
		m.Number = types.Int64Value(int64(r.Number))
		m.Status, m.Reason = types.StringValue(r.Status), types.StringValue(r.Reason)
		m.SourceHash, m.Droplet = types.StringValue(r.Config.Source), types.StringValue(r.Config.Droplet)
		m.Command, m.CreatedAt = types.StringValue(r.Config.Command), types.StringValue(r.CreatedAt.Format("2006-01-02T15:04:05Z07:00"))
		resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
		return
	}
	resp.Diagnostics.AddAttributeError(path.Root("number"), "No such release", fmt.Sprintf("app %s/%s has no release %d", space, app, want))
}
