package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/planmodifiers"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// PipelineResource is paved_pipeline.
type PipelineResource struct{ client *paved.Client }

var (
	_ resource.ResourceWithImportState    = (*PipelineResource)(nil)
	_ resource.ResourceWithValidateConfig = (*PipelineResource)(nil)
)

// NewPipelineResource returns paved_pipeline.
func NewPipelineResource() resource.Resource { return &PipelineResource{} }

// Metadata names the resource.
func (r *PipelineResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_pipeline"
}

func optStr(desc string) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, MarkdownDescription: desc}
}

// optDur is an optional duration; another spelling of the state's
// ("1h" for "1h0m0s", as an import reads it) plans no change.
func optDur(desc string) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, MarkdownDescription: desc, Validators: []validator.String{validators.Duration(false)},
		PlanModifiers: []planmodifier.String{planmodifiers.SameDuration()}}
}

func optList(desc string) schema.ListAttribute {
	return schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: desc}
}

// leafAttributes are the attributes of a step that does one thing.
func leafAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"get":              optStr("get: a source whose version is placed in a directory of the same name."),
		"trigger":          schema.BoolAttribute{Optional: true, MarkdownDescription: "get: a new version starts a build."},
		"passed":           optList("get: only versions that passed all these jobs."),
		"version":          optStr("get: `latest` (default), `every` or a pinned version."),
		"task":             optStr("task: its name."),
		"run":              optStr("task: the shell command."),
		"dir":              optStr("task: working directory (a get or an output)."),
		"env":              schema.MapAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "task: environment."},
		"inputs":           optList("task: directories it reads."),
		"outputs":          optList("task: directories it makes for later steps."),
		"timeout":          optDur("task: time limit."),
		"attempts":         schema.Int64Attribute{Optional: true, MarkdownDescription: "task: tries before failing (default 1)."},
		"deploy":           optStr("deploy: an app of the pipeline's space."),
		"from":             optStr("deploy: the directory to push."),
		"assert":           optStr("assert: its name."),
		"command":          optStr("assert: a command that must pass."),
		"http_url":         optStr("assert: a URL that must answer; `router:/path` goes through the cell's router."),
		"http_host":        optStr("assert: Host header (the app's route)."),
		"http_status":      schema.Int64Attribute{Optional: true, MarkdownDescription: "assert: expected status (default 200)."},
		"http_contains":    optStr("assert: text the body must contain."),
		"http_max_latency": optDur("assert: the answer must come within this."),
		"put":              optStr("put: a semver source to bump."),
		"bump":             schema.StringAttribute{Optional: true, MarkdownDescription: "put: `major`, `minor` or `patch`.", Validators: []validator.String{stringvalidator.OneOf("major", "minor", "patch")}},
		"environment":      optStr("environment: name prefix of a preview environment made for the build (destroyed on success, kept until its TTL on failure); asserts reach its apps with `http_url = \"env:APP/path\"`."),
		"from_space":       optStr("environment: the space it clones."),
		"app":              optStr("environment: the app that runs `source`."),
		"source":           optStr("environment: the directory (a get or an output) the app runs."),
		"ttl":              optDur("environment: how long it lives."),
		"backup_path":      optStr("assert: a directory that must hold a backup newer than `backup_app`'s running release."),
		"backup_app":       optStr("assert: the app whose release the backup must be newer than."),
	}
}

func stepBlock(desc string) (map[string]schema.Attribute, map[string]schema.Block) {
	attrs := leafAttributes()
	attrs["try"] = schema.BoolAttribute{Optional: true, MarkdownDescription: "A failure of this step does not fail the job."}
	blocks := map[string]schema.Block{
		"in_parallel": schema.ListNestedBlock{MarkdownDescription: "Steps run at once (instead of this step's own).",
			NestedObject: schema.NestedBlockObject{Attributes: leafAttributes()}},
	}
	return attrs, blocks
}

// Schema describes paved_pipeline.
func (r *PipelineResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	stepAttrs, stepBlocks := stepBlock("")
	hook := func(desc string) schema.SingleNestedBlock {
		a, b := stepBlock("")
		return schema.SingleNestedBlock{MarkdownDescription: desc, Attributes: a, Blocks: b}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A delivery pipeline in a space: sources (git, semver, time, app_release) whose new versions trigger jobs of steps " +
			"(get, task, deploy, assert, put, in_parallel, try) with hooks. Every version builds once; `passed` fans in.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`space/name`.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"space": schema.StringAttribute{Required: true, MarkdownDescription: "Space of the pipeline.", Validators: []validator.String{validators.Name()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"name": schema.StringAttribute{Required: true, MarkdownDescription: "Pipeline name.", Validators: []validator.String{validators.Name()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"paused": schema.BoolAttribute{Optional: true, MarkdownDescription: "A paused pipeline checks nothing and starts nothing."},
			"retain": schema.Int64Attribute{Optional: true, MarkdownDescription: "Builds kept per job (default 100)."},
			"webhook_paths": schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Per source: the path to POST to check it now.",
				PlanModifiers: []planmodifier.Map{mapplanmodifier.UseStateForUnknown()}},
			"webhook_secrets_wo": schema.MapAttribute{Optional: true, WriteOnly: true, Sensitive: true, ElementType: types.StringType,
				MarkdownDescription: "Per source: the secret a webhook call sends in `X-Paved-Webhook-Token` (at least 32 printable characters " +
					"without spaces, e.g. an ephemeral variable or an ephemeral `random_password`). Write-only: never in plan or state, and " +
					"the cell keeps only its sha256. Sent on create and when `webhook_secrets_wo_version` changes (but not by the first apply " +
					"after an import: see `webhook_secrets_wo_version`); a source left out keeps " +
					"the secret it has. A source that never had one has a secret nobody knows (the cell's generated one is not kept), " +
					"so only polling and admin checks reach it.",
				Validators: []validator.Map{validators.WebhookSecrets()}},
			"webhook_secrets_wo_version": schema.Int64Attribute{Optional: true,
				MarkdownDescription: "Change it to send the current `webhook_secrets_wo` (they cannot be compared, since they are not stored): " +
					"the way to rotate webhook secrets. After an import, the first apply takes the configured value as the version of the " +
					"secrets the cell already has: it is recorded without sending `webhook_secrets_wo`. Change it afterwards to send them."},
		},
		Blocks: map[string]schema.Block{
			"source": schema.ListNestedBlock{
				MarkdownDescription: "Where versions come from.",
				Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"name":        schema.StringAttribute{Required: true, MarkdownDescription: "Source name (the get's directory)."},
					"type":        schema.StringAttribute{Required: true, MarkdownDescription: "`git`, `semver`, `time` or `app_release`.", Validators: []validator.String{stringvalidator.OneOf(paved.SourceGit, paved.SourceSemver, paved.SourceTime, paved.SourceAppRelease)}},
					"uri":         optStr("git: anything `git fetch` takes, local paths included."),
					"branch":      optStr("git: branch (default `main`)."),
					"paths":       optList("git: only commits touching these paths count."),
					"check_every": optDur("How often to poll (default 1m); a webhook checks at once."),
					"initial":     optStr("semver: first version (default 0.0.0)."),
					"interval":    optDur("time: a new version every interval."),
					"app":         optStr("app_release: the app whose good releases are versions."),
					"gate":        schema.BoolAttribute{Optional: true, MarkdownDescription: "app_release: the jobs that get this source gate the app — its releases that rolled out healthy are versions, and one becomes good only when every such job passed it."},
				}},
			},
			"job": schema.ListNestedBlock{
				MarkdownDescription: "A sequence of steps run as one build.",
				Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
				NestedObject: schema.NestedBlockObject{
					Attributes: map[string]schema.Attribute{
						"name":          schema.StringAttribute{Required: true, MarkdownDescription: "Job name."},
						"serial":        schema.BoolAttribute{Optional: true, MarkdownDescription: "One build at a time."},
						"max_in_flight": schema.Int64Attribute{Optional: true, MarkdownDescription: "Builds at once."},
					},
					Blocks: map[string]schema.Block{
						"step": schema.ListNestedBlock{MarkdownDescription: "The job's steps, in order.",
							NestedObject: schema.NestedBlockObject{Attributes: stepAttrs, Blocks: stepBlocks}},
						"on_success": hook("Runs when the job succeeds."),
						"on_failure": hook("Runs when the job fails."),
						"ensure":     hook("Runs whatever the outcome."),
					},
				},
			},
		},
	}
}

// Configure takes the provider's client.
func (r *PipelineResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig runs the same validation as the cell and the CLI on
// everything the config decides, with attribute paths.
func (r *PipelineResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	// A block list built by a dynamic block over a value not known yet
	// (a module's variable at validate time) cannot be read into the
	// model; plan validates again once it is known.
	if !req.Config.Raw.IsFullyKnown() {
		return
	}
	var m pipelineModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := m.toSpec(ctx, &resp.Diagnostics)
	spec.WebhookSecrets = webhookSecrets(ctx, req.Config, &resp.Diagnostics)
	pipelineDiags(spec.Validate(nil), &resp.Diagnostics)
}

// set sends the pipeline with the configured webhook secrets when
// sendSecrets (create, or a new webhook_secrets_wo_version).
func (r *PipelineResource) set(ctx context.Context, m *pipelineModel, config configGetter, sendSecrets bool, diags *diagnostics) {
	spec := m.toSpec(ctx, diags)
	if sendSecrets {
		spec.WebhookSecrets = webhookSecrets(ctx, config, diags)
	}
	if diags.HasError() {
		return
	}
	p, err := r.client.Pipelines.Set(ctx, m.Space.ValueString(), spec)
	if err != nil {
		if apiErr, ok := asAPIError(err); ok && apiErr.Field != "" {
			diags.AddAttributeError(pipelineAttributePath(apiErr.Field), "The cell refused the pipeline", apiErr.Error())
			return
		}
		addError(diags, "Could not set pipeline "+spec.Name, err)
		return
	}
	m.fill(ctx, p, diags)
}

// Create sets the pipeline with its webhook secrets.
func (r *PipelineResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan, req.Config, true, &resp.State, &resp.Diagnostics)
}

// Update replaces the pipeline's model; builds and versions are kept. The
// webhook secrets are sent again only for a new webhook_secrets_wo_version,
// except on the first apply after an import, which adopts the secrets the
// cell has (see importedKey). A plan that changes nothing the cell has
// (only such a version, or a duration's spelling) is recorded, not sent.
func (r *PipelineResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state pipelineModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	adopt := state.WebhookSecretsWOVersion.IsNull() && imported(ctx, req.Private)
	sendSecrets := !adopt && !plan.WebhookSecretsWOVersion.Equal(state.WebhookSecretsWOVersion)
	if !sendSecrets && !pipelineChange(ctx, &plan, &state) {
		plan.WebhookSecretsWO = types.MapNull(types.StringType)
		resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
		applied(ctx, resp.Private, &resp.Diagnostics)
		return
	}
	r.apply(ctx, req.Plan, req.Config, sendSecrets, &resp.State, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		applied(ctx, resp.Private, &resp.Diagnostics)
	}
}

// pipelineChange tells whether a plan changes the pipeline as the cell
// gets it.
func pipelineChange(ctx context.Context, plan, state *pipelineModel) bool {
	var diags diagnostics
	planned, err1 := json.Marshal(plan.toSpec(ctx, &diags))
	prior, err2 := json.Marshal(state.toSpec(ctx, &diags))
	return diags.HasError() || err1 != nil || err2 != nil || !bytes.Equal(planned, prior)
}

// apply sends the planned pipeline and records what the cell answered.
func (r *PipelineResource) apply(ctx context.Context, plan tfsdk.Plan, config configGetter, sendSecrets bool, state *tfsdk.State, diags *diagnostics) {
	var m pipelineModel
	diags.Append(plan.Get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	r.set(ctx, &m, config, sendSecrets, diags)
	if !diags.HasError() {
		diags.Append(state.Set(ctx, m)...)
	}
}

// Read refreshes the pipeline; one deleted outside leaves the state.
func (r *PipelineResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m pipelineModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	p, err := r.client.Pipelines.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		removeGone(ctx, resp, nil)
		return
	}
	if err != nil {
		addError(&resp.Diagnostics, "Could not read pipeline "+m.ID.ValueString(), err)
		return
	}
	m.fill(ctx, p, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// Delete removes the pipeline with its builds.
func (r *PipelineResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m pipelineModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	if err := r.client.Pipelines.Delete(ctx, space, name); err != nil && !paved.IsNotFound(err) {
		addError(&resp.Diagnostics, "Could not delete pipeline "+m.ID.ValueString(), err)
	}
}

// ImportState imports by "space/name".
func (r *PipelineResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	space, name, ok := strings.Cut(req.ID, "/")
	if !ok || validators.CheckName(space) != nil || validators.CheckName(name) != nil {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("import a pipeline as SPACE/NAME, e.g. shop/ci; got %q", req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	markImported(ctx, resp.Private, &resp.Diagnostics) // the first apply adopts the webhook secrets (Update)
}
