package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// SnapshotDataSource is data.paved_snapshot.
type SnapshotDataSource struct{ client *paved.Client }

// NewSnapshotDataSource returns data.paved_snapshot.
func NewSnapshotDataSource() datasource.DataSource { return &SnapshotDataSource{} }

type snapshotModel struct {
	Space     types.String `tfsdk:"space"`
	Number    types.Int64  `tfsdk:"number"`
	Releases  types.Map    `tfsdk:"releases"`
	Reason    types.String `tfsdk:"reason"`
	CreatedAt types.String `tfsdk:"created_at"`
}

// Metadata names the data source.
func (d *SnapshotDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_snapshot"
}

// Schema describes data.paved_snapshot.
func (d *SnapshotDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads a snapshot of a space: the last good release of every app at one moment (the newest unless `number` is set). `paved restore` goes back to one.",
		Attributes: map[string]schema.Attribute{
			"space":      schema.StringAttribute{Required: true, MarkdownDescription: "The space."},
			"number":     schema.Int64Attribute{Optional: true, Computed: true, MarkdownDescription: "Snapshot number (default: the newest)."},
			"releases":   schema.MapAttribute{Computed: true, ElementType: types.Int64Type, MarkdownDescription: "App → its last good release."},
			"reason":     schema.StringAttribute{Computed: true, MarkdownDescription: "What made it."},
			"created_at": schema.StringAttribute{Computed: true, MarkdownDescription: "When (RFC 3339)."},
		},
	}
}

// Configure takes the provider's client.
func (d *SnapshotDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Read finds the snapshot.
func (d *SnapshotDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m snapshotModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	snaps, err := d.client.Snapshots.List(ctx, m.Space.ValueString())
	if err != nil {
		addError(&resp.Diagnostics, "Could not read snapshots", err)
		return
	}
	for _, s := range snaps { // newest first
		if m.Number.IsNull() || int64(s.Number) == m.Number.ValueInt64() {
			m.Number = types.Int64Value(int64(s.Number))
			rels := map[string]int64{}
			for app, n := range s.Releases {
				rels[app] = int64(n)
			}
			m.Releases, _ = types.MapValueFrom(ctx, types.Int64Type, rels)
			m.Reason, m.CreatedAt = types.StringValue(s.Reason), types.StringValue(s.CreatedAt.Format(time.RFC3339))
			resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
			return
		}
	}
	resp.Diagnostics.AddError("No such snapshot", fmt.Sprintf("space %s has no snapshot %v yet", m.Space.ValueString(), m.Number))
}
