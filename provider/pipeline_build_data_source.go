package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// PipelineBuildDataSource is data.paved_pipeline_build: the latest build of a job.
type PipelineBuildDataSource struct{ client *paved.Client }

// NewPipelineBuildDataSource returns data.paved_pipeline_build.
func NewPipelineBuildDataSource() datasource.DataSource { return &PipelineBuildDataSource{} }

type pipelineBuildModel struct {
	Space    types.String  `tfsdk:"space"`
	Pipeline types.String  `tfsdk:"pipeline"`
	Job      types.String  `tfsdk:"job"`
	ID       types.Int64   `tfsdk:"id"`
	Number   types.Int64   `tfsdk:"number"`
	Status   types.String  `tfsdk:"status"`
	Reason   types.String  `tfsdk:"reason"`
	Inputs   types.Map     `tfsdk:"inputs"`
	Seconds  types.Float64 `tfsdk:"seconds"`
	Steps    types.List    `tfsdk:"steps"`
}

var stepTimingType = types.ObjectType{AttrTypes: map[string]attr.Type{"name": types.StringType, "status": types.StringType, "seconds": types.Float64Type}}

// Metadata names the data source.
func (d *PipelineBuildDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_pipeline_build"
}

// Schema describes data.paved_pipeline_build.
func (d *PipelineBuildDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads the latest build of a pipeline job: its status and per-step timings.",
		Attributes: map[string]schema.Attribute{
			"space":    schema.StringAttribute{Required: true, MarkdownDescription: "Space of the pipeline."},
			"pipeline": schema.StringAttribute{Required: true, MarkdownDescription: "Pipeline name."},
			"job":      schema.StringAttribute{Required: true, MarkdownDescription: "Job name."},
			"id":       schema.Int64Attribute{Computed: true, MarkdownDescription: "Build id."},
			"number":   schema.Int64Attribute{Computed: true, MarkdownDescription: "Build number within the job."},
			"status":   schema.StringAttribute{Computed: true, MarkdownDescription: "pending, running, succeeded, failed or errored."},
			"reason":   schema.StringAttribute{Computed: true, MarkdownDescription: "Why it did not succeed."},
			"inputs":   schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Source → version."},
			"seconds":  schema.Float64Attribute{Computed: true, MarkdownDescription: "Duration so far."},
			"steps": schema.ListAttribute{Computed: true, ElementType: stepTimingType,
				MarkdownDescription: "Steps with `name`, `status` and `seconds`."},
		},
	}
}

// Configure takes the provider's client.
func (d *PipelineBuildDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Read finds the newest build of the job.
func (d *PipelineBuildDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m pipelineBuildModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	bs, err := d.client.Pipelines.Builds(ctx, m.Space.ValueString(), m.Pipeline.ValueString(), m.Job.ValueString())
	if err != nil {
		addError(&resp.Diagnostics, "Could not read builds", err)
		return
	}
	if len(bs) == 0 {
		resp.Diagnostics.AddError("No build yet", fmt.Sprintf("job %s of pipeline %s has not built anything yet", m.Job.ValueString(), m.Pipeline.ValueString()))
		return
	}
	b := bs[0]
	m.ID, m.Number = types.Int64Value(b.ID), types.Int64Value(int64(b.Number))
	m.Status, m.Reason = types.StringValue(b.Status), types.StringValue(b.Reason)
	inputs, dg := types.MapValueFrom(ctx, types.StringType, b.Inputs)
	m.Inputs = inputs
	resp.Diagnostics.Append(dg...)
	total := 0.0
	steps := []attr.Value{}
	for _, st := range b.Steps {
		total += st.Seconds
		steps = append(steps, types.ObjectValueMust(stepTimingType.AttrTypes, map[string]attr.Value{
			"name": types.StringValue(st.Name), "status": types.StringValue(st.Status), "seconds": types.Float64Value(st.Seconds)}))
	}
	m.Seconds = types.Float64Value(total)
	m.Steps = types.ListValueMust(stepTimingType, steps)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}
