package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/planmodifiers"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// Default wait for a rollout when the timeouts block says nothing.
const defaultRolloutTimeout = 20 * time.Minute

// AppResource is paved_app.
type AppResource struct{ client *paved.Client }

var (
	_ resource.ResourceWithImportState    = (*AppResource)(nil)
	_ resource.ResourceWithIdentity       = (*AppResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*AppResource)(nil)
	_ resource.ResourceWithValidateConfig = (*AppResource)(nil)
)

// NewAppResource returns paved_app.
func NewAppResource() resource.Resource { return &AppResource{} }

type appIdentity struct {
	Space types.String `tfsdk:"space"`
	Name  types.String `tfsdk:"name"`
}

// Metadata names the resource.
func (r *AppResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_app"
}

// Schema describes paved_app. Its core (space, name, source, build,
// command, instances, env, routes, health_check, deployment) is fixed:
// docs, Pulumi and scripts rely on it.
func (r *AppResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := appSettingsAttributes()
	maps.Copy(attrs, secretEnvAttributes("Sent when `secret_env_version` changes (but not by the first apply after an import: see `secret_env_version`).",
		"After an import, the first apply takes the configured value as the version of the secrets the app already has: "+
			"it is recorded without sending `secret_env` (the cell keeps its secret values), so adopting a running app rolls nothing out. "+
			"Change it afterwards to send `secret_env`."))
	maps.Copy(attrs, map[string]schema.Attribute{
		"id": schema.StringAttribute{
			Computed: true, MarkdownDescription: "`space/name`.",
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		},
		"space": schema.StringAttribute{
			Required: true, MarkdownDescription: "Space of the app. Changing it replaces the app.",
			Validators:    []validator.String{validators.Name()},
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
		},
		"source_hash": schema.StringAttribute{
			Computed: true, MarkdownDescription: "sha256 of the packed source the running release was built from.",
		},
		"release":           schema.Int64Attribute{Computed: true, MarkdownDescription: "The release the instances run."},
		"last_good_release": schema.Int64Attribute{Computed: true, MarkdownDescription: "The newest release that rolled out healthy."},
		"status":            schema.StringAttribute{Computed: true, MarkdownDescription: "running, degraded, crashing, stopped, failed, …"},
		"running_instances": schema.Int64Attribute{Computed: true, MarkdownDescription: "Instances passing their health check."},
		"urls":              schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "URLs of the routes (send them to the cell's router)."},
	})
	blocks := appSettingsBlocks()
	blocks["timeouts"] = timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true})
	resp.Schema = schema.Schema{
		MarkdownDescription: "An app on a paved cell: built from `source`, run as `instances` processes behind the router. " +
			"Every change but `space` and `name` rolls out in place as a new release with the app's `deployment` strategy; " +
			"a rollout that fails rolls back by itself and fails the apply with the reason.",
		Attributes: attrs,
		Blocks:     blocks,
	}
}

// secretEnvAttributes are secret_env (write-only) and secret_env_version,
// shared by paved_app and the app block of paved_replica_set; when says
// when the values are sent, afterImport what the first apply after an
// import does with secret_env_version.
func secretEnvAttributes(when, afterImport string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"secret_env": schema.MapAttribute{
			Optional: true, WriteOnly: true, Sensitive: true, ElementType: types.StringType,
			MarkdownDescription: "Secret environment variables of the instances (not of the build). Write-only: never in plan or state; " +
				"the cell never returns them and redacts them in the instances' logs. " + when,
		},
		// After an import the state has no secret_env_version: the first
		// apply adopts the secrets the cell has (adoptsSecrets).
		"secret_env_version": schema.StringAttribute{
			Optional: true, MarkdownDescription: "Change it to send new `secret_env` values (they cannot be compared, since they are not stored). " +
				afterImport,
		},
	}
}

// secretEnvFrom reads a write-only secret_env from the config (at is its
// path): an empty map when it is not set, which removes the secrets.
func secretEnvFrom(ctx context.Context, config configGetter, at path.Path, diags *diagnostics) map[string]string {
	var secrets types.Map
	diags.Append(config.GetAttribute(ctx, at, &secrets)...)
	out := map[string]string{}
	if !secrets.IsNull() && !secrets.IsUnknown() {
		diags.Append(secrets.ElementsAs(ctx, &out, false)...)
	}
	return out
}

// configSet tells whether the config sets the map attribute at (a
// write-only one is only there).
func configSet(ctx context.Context, config configGetter, at path.Path, diags *diagnostics) bool {
	var v types.Map
	diags.Append(config.GetAttribute(ctx, at, &v)...)
	return !v.IsNull()
}

// appSettingsAttributes are the attributes a user declares about an app,
// shared by paved_app and the app block of paved_replica_set (with
// appSettingsBlocks and appSettingsModel), so both read the same.
func appSettingsAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"name": schema.StringAttribute{
			Required: true, MarkdownDescription: "Name: a DNS label. Changing it replaces the app.",
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
		},
		"source": schema.StringAttribute{
			Optional: true,
			MarkdownDescription: "A directory (packed reproducibly, skipping `.git` and `.pavedignore` entries), a `.tar.gz` or a `.zip`. A change of its content is an in-place update. " +
				"A new path with the same content (as after an import, which cannot know the path) is only recorded: no release.",
		},
		"build": schema.StringAttribute{
			Optional: true, MarkdownDescription: "Build command, run in the unpacked source.",
			Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
		},
		"command": schema.StringAttribute{
			Required: true, MarkdownDescription: "Start command of one instance; it must listen on `$PORT`.",
		},
		"instances": schema.Int64Attribute{
			Optional: true, Computed: true, Default: int64default.StaticInt64(1),
			MarkdownDescription: "Number of instances (default 1; 0 = staged but stopped).",
		},
		"env": schema.MapAttribute{
			Optional: true, ElementType: types.StringType, MarkdownDescription: "Environment of the instances (and the build).",
		},
		"memory_mb": schema.Int64Attribute{
			Optional: true, Computed: true, Default: int64default.StaticInt64(0),
			MarkdownDescription: "Memory limit per instance in MiB (0 = none). Enforced where the cell has cgroup v2.",
		},
		"routes": schema.ListAttribute{
			Optional: true, ElementType: types.StringType,
			MarkdownDescription: "Routes served by the router: `\"host\"` or `\"host/path\"`.",
		},
	}
}

// appSettingsBlocks are the health_check and deployment blocks of an app.
func appSettingsBlocks() map[string]schema.Block {
	// Another spelling of the state's duration ("1m" for "1m0s", as an
	// import reads it) plans no change.
	dur := func(desc string, positive bool) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc, Validators: []validator.String{validators.Duration(positive)},
			PlanModifiers: []planmodifier.String{planmodifiers.SameDuration()}}
	}
	return map[string]schema.Block{
		"health_check": schema.SingleNestedBlock{
			MarkdownDescription: "How the cell decides an instance may take traffic (default: the process is up).",
			Attributes: map[string]schema.Attribute{
				"type":     schema.StringAttribute{Optional: true, MarkdownDescription: "`http`, `tcp` or `process`."},
				"path":     schema.StringAttribute{Optional: true, MarkdownDescription: "Path of an http check (default `/`).", Validators: []validator.String{notEmpty}},
				"interval": dur("Time between checks (default 2s).", true),
				"timeout":  dur("Time a check may take (default 1s).", true),
				"grace":    dur("Time a new instance may take to start passing (default 60s).", false),
			},
		},
		"deployment": schema.SingleNestedBlock{
			MarkdownDescription: "How a new release rolls out (default: rolling, 25% at a time).",
			Attributes: map[string]schema.Attribute{
				"strategy": schema.StringAttribute{Optional: true, MarkdownDescription: "`rolling` (default), `canary`, `blue_green` or `recreate`.",
					Validators: []validator.String{notEmpty}},
				"max_in_flight":     schema.StringAttribute{Optional: true, MarkdownDescription: "New instances starting at once: a count (`\"2\"`) or a percentage (`\"25%\"`).", Validators: []validator.String{notEmpty}},
				"min_healthy_time":  dur("How long a new instance must stay healthy before an old one stops.", false),
				"progress_deadline": dur("A rollout making no progress for this long fails (default 10m).", true),
				"auto_rollback":     schema.BoolAttribute{Optional: true, MarkdownDescription: "Roll back by itself when the rollout fails (default true); false stops it where it is."},
				"drain_timeout":     dur("How long a leaving instance may finish in-flight requests (default 10s).", false),
				"keep_old":          dur("blue_green: how long the old set is kept after the switch.", false),
			},
			Blocks: map[string]schema.Block{
				"canary": schema.SingleNestedBlock{
					MarkdownDescription: "Canary steps and their health gate (strategy `canary`).",
					Attributes: map[string]schema.Attribute{
						"steps": schema.ListAttribute{Optional: true, ElementType: types.Int64Type,
							MarkdownDescription: "Traffic percentages sent to the canary, one step each, e.g. `[10, 50]`.",
							Validators:          []validator.List{listvalidator.SizeAtLeast(1)}},
						"watch":          dur("How long each step is watched (default 30s).", true),
						"max_error_rate": schema.Float64Attribute{Optional: true, MarkdownDescription: "Highest share of failed canary requests, 0–1 (default 0.05)."},
						"min_requests": schema.Int64Attribute{Optional: true, MarkdownDescription: "Requests a step needs before its error rate counts (default 20).",
							Validators: []validator.Int64{int64validator.AtLeast(1)}},
					},
				},
			},
		},
	}
}

// IdentitySchema is the app's identity: space and name.
func (r *AppResource) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = identityschema.Schema{Attributes: map[string]identityschema.Attribute{
		"space": identityschema.StringAttribute{RequiredForImport: true, Description: "Space of the app."},
		"name":  identityschema.StringAttribute{RequiredForImport: true, Description: "App name."},
	}}
}

// Configure takes the provider's client.
func (r *AppResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig checks the app by the library's rules (validateAppSettings),
// each problem at its attribute.
func (r *AppResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m appModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	validateAppSettings(&m.appSettingsModel, m.SecretEnv, path.Empty(), &resp.Diagnostics)
}

// ModifyPlan computes source_hash from the source on disk, so a changed
// file is a planned in-place update, and marks what a rollout changes as
// unknown when there is one.
func (r *AppResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan appModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !planSourceHash(ctx, plan.Source, path.Root("source"), resp) {
		return
	}
	if req.State.Raw.IsNull() {
		return // create: computed values are unknown anyway
	}
	var state appModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(resp.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	adopt := adoptsSecrets(ctx, req.Private, state)
	if !appChange(plan, state, adopt) {
		// Only what the cell cannot know changes (the local source path,
		// a secret_env_version adopted after an import, timeouts): Update
		// records it and sends nothing, so every computed value stays
		// what the cell says (the framework planned them unknown).
		for p, v := range map[string]attr.Value{"release": state.Release, "last_good_release": state.LastGoodRelease,
			"running_instances": state.RunningInstances, "status": state.Status, "urls": state.URLs} {
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(p), v)...)
		}
		return
	}
	if plan.SourceHash.Equal(state.SourceHash) && !releaseChange(plan, state, adopt) {
		return
	}
	for _, p := range []string{"release", "last_good_release", "running_instances"} {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(p), types.Int64Unknown())...)
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("status"), types.StringUnknown())...)
}

// adoptsSecrets tells whether a plan adopts the app's secrets: the first
// apply after an import (the state has no secret_env_version) records the
// configured secret_env_version as the version of the secrets the cell
// has, without sending secret_env. A platform engineer adopting a running
// app expects no redeploy, and the cell keeps its secret values; a later
// change of secret_env_version sends them and rolls out.
func adoptsSecrets(ctx context.Context, private privateState, state appModel) bool {
	return state.SecretEnvVersion.IsNull() && imported(ctx, private)
}

// appChange tells whether a plan changes anything the cell has: the
// source's content, the settings as the cell gets them, or the secrets (a
// new secret_env_version, unless adopted).
func appChange(plan, state appModel, adoptSecrets bool) bool {
	if !plan.SourceHash.Equal(state.SourceHash) || !adoptSecrets && !plan.SecretEnvVersion.Equal(state.SecretEnvVersion) {
		return true
	}
	return settingsChange(&plan.appSettingsModel, &state.appSettingsModel)
}

// settingsChange tells whether planned settings differ from the state's
// as the cell gets them (the source is compared by its digest); a setting
// not known yet is a change.
func settingsChange(plan, state *appSettingsModel) bool {
	p, skip := plan.specOf(types.MapNull(types.StringType))
	if len(skip) > 0 {
		return true
	}
	s, _ := state.specOf(types.MapNull(types.StringType))
	planned, err1 := json.Marshal(p)
	prior, err2 := json.Marshal(s)
	return err1 != nil || err2 != nil || !bytes.Equal(planned, prior)
}

// planSourceHash sets the planned source_hash from the source on disk (at
// is the source attribute), so a changed file is a planned in-place update
// rather than a surprise at apply. It reports whether the source was read.
func planSourceHash(ctx context.Context, source types.String, at path.Path, resp *resource.ModifyPlanResponse) bool {
	hash := types.StringUnknown()
	switch {
	case source.IsNull():
		hash = types.StringNull()
	case !source.IsUnknown():
		_, digest, err := paved.ReadSource(source.ValueString())
		if err != nil {
			resp.Diagnostics.AddAttributeError(at, "Cannot read the source", err.Error())
			return false
		}
		hash = types.StringValue(digest)
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("source_hash"), hash)...)
	return true
}

// releaseChange tells whether a plan changes anything that cuts a release
// besides the source (a secret_env_version adopted after an import cuts none).
func releaseChange(plan, state appModel, adoptSecrets bool) bool {
	return !plan.Build.Equal(state.Build) || !plan.Command.Equal(state.Command) || !plan.Env.Equal(state.Env) ||
		!plan.MemoryMB.Equal(state.MemoryMB) || !adoptSecrets && !plan.SecretEnvVersion.Equal(state.SecretEnvVersion) ||
		!plan.Instances.Equal(state.Instances) || fmt.Sprint(plan.HealthCheck) != fmt.Sprint(state.HealthCheck)
}

// Create uploads the source, creates the app and waits for its rollout.
func (r *AppResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan appModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, defaultRolloutTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	spec, ok := r.spec(ctx, plan, req.Config, true, &resp.Diagnostics)
	if !ok {
		return
	}
	a, err := r.client.Apps.Create(ctx, plan.Space.ValueString(), spec)
	if err != nil {
		addError(&resp.Diagnostics, "Could not create app "+plan.Space.ValueString()+"/"+spec.Name, err)
		return
	}
	r.finish(ctx, a, plan, plan.SecretEnvVersion, &resp.State, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.Identity.Set(ctx, appIdentity{Space: plan.Space, Name: plan.Name})...)
}

// Update changes the app in place and waits for the rollout; a rollout
// that rolls back fails the apply and leaves the change pending.
func (r *AppResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state appModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, defaultRolloutTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	adopt := adoptsSecrets(ctx, req.Private, state)
	if !appChange(plan, state, adopt) {
		// Nothing the cell has changes (see ModifyPlan): record the plan,
		// whose computed values are the state's.
		plan.SecretEnv = types.MapNull(types.StringType)
		resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
		resp.Diagnostics.Append(resp.Identity.Set(ctx, appIdentity{Space: plan.Space, Name: plan.Name})...)
		applied(ctx, resp.Private, &resp.Diagnostics)
		return
	}
	sendSecrets := !adopt && !plan.SecretEnvVersion.Equal(state.SecretEnvVersion)
	spec, ok := r.spec(ctx, plan, req.Config, sendSecrets, &resp.Diagnostics)
	if !ok {
		return
	}
	a, err := r.client.Apps.Update(ctx, plan.Space.ValueString(), spec)
	if err != nil {
		addError(&resp.Diagnostics, "Could not update app "+state.ID.ValueString(), err)
		return
	}
	r.finish(ctx, a, plan, state.SecretEnvVersion, &resp.State, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.Identity.Set(ctx, appIdentity{Space: plan.Space, Name: plan.Name})...)
	if !resp.Diagnostics.HasError() {
		applied(ctx, resp.Private, &resp.Diagnostics)
	}
}

// spec uploads the source (unless the cell has it) and builds the API spec.
// Secret values are only in the config (write-only), and only sent when asked.
func (r *AppResource) spec(ctx context.Context, plan appModel, config configGetter, sendSecrets bool, diags *diagnostics) (paved.AppSpec, bool) {
	data, digest, ok := packSource(plan.Source, plan.SourceHash, path.Root("source"), diags)
	if !ok {
		return paved.AppSpec{}, false
	}
	if data != nil {
		if _, _, err := r.client.Sources.Ensure(ctx, data, nil); err != nil {
			addError(diags, "Could not upload the source", err)
			return paved.AppSpec{}, false
		}
	}
	spec := plan.toSpec(digest)
	if sendSecrets {
		spec.SecretEnv = secretEnvFrom(ctx, config, path.Root("secret_env"), diags)
	}
	return spec, !diags.HasError()
}

// finish waits for the rollout and records the app as it really is. On a
// rollout that did not succeed the state keeps the last applied
// secret_env_version, so the change stays pending.
func (r *AppResource) finish(ctx context.Context, a *paved.App, plan appModel, priorSecretVersion types.String, st stateSetter, diags *diagnostics) {
	ro, err := paved.WaitRollout(ctx, r.client, a.Space, a.Name, paved.RolloutOptions{})
	if err != nil {
		addError(diags, "Waiting for the rollout of "+a.Space+"/"+a.Name, err)
		if ro == nil {
			return
		}
	}
	m := plan
	m.SecretEnv = types.MapNull(types.StringType)
	if !r.read(ctx, &m, ro.App, diags) {
		return
	}
	if err == nil && !ro.Succeeded() {
		diags.AddError("Rollout of "+a.Space+"/"+a.Name+" "+strings.ReplaceAll(ro.Verdict, "_", " "), ro.Err().Error())
	}
	if err != nil || !ro.Succeeded() {
		m.SecretEnvVersion = priorSecretVersion
	}
	diags.Append(st.Set(ctx, m)...)
}

// read fills m from the cell, taking release-bound settings from the
// release that runs.
func (r *AppResource) read(ctx context.Context, m *appModel, a *paved.App, diags *diagnostics) bool {
	cfg, err := r.client.Releases.Running(ctx, a)
	if err != nil {
		addError(diags, "Could not read app "+a.Space+"/"+a.Name, err)
		return false
	}
	diags.Append(m.fill(ctx, a, cfg)...)
	return !diags.HasError()
}

// Read refreshes the app; one deleted outside leaves the state.
func (r *AppResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m appModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	a, err := r.client.Apps.Get(ctx, space, name)
	if paved.IsNotFound(err) {
		removeGone(ctx, resp, appIdentity{Space: m.Space, Name: m.Name})
		return
	}
	if err != nil {
		addError(&resp.Diagnostics, "Could not read app "+m.ID.ValueString(), err)
		return
	}
	typedTimeouts(ctx, &m.Timeouts)
	if !r.read(ctx, &m, a, &resp.Diagnostics) {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
	resp.Diagnostics.Append(resp.Identity.Set(ctx, appIdentity{Space: m.Space, Name: m.Name})...)
}

// Delete removes the app; the cell stops its instances before answering.
func (r *AppResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m appModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := m.Timeouts.Delete(ctx, 5*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	space, name, _ := strings.Cut(m.ID.ValueString(), "/")
	if err := r.client.Apps.Delete(ctx, space, name); err != nil && !paved.IsNotFound(err) {
		addError(&resp.Diagnostics, "Could not delete app "+m.ID.ValueString(), err)
	}
}

// ImportState imports by "space/name", or by identity.
func (r *AppResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := req.ID
	if id == "" {
		var ident appIdentity
		resp.Diagnostics.Append(req.Identity.Get(ctx, &ident)...)
		if resp.Diagnostics.HasError() {
			return
		}
		id = ident.Space.ValueString() + "/" + ident.Name.ValueString()
	}
	space, name, ok := strings.Cut(id, "/")
	if !ok || validators.CheckName(space) != nil || validators.CheckName(name) != nil {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("import an app as SPACE/NAME, e.g. shop/web; got %q", id))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
	markImported(ctx, resp.Private, &resp.Diagnostics) // the first apply adopts the secrets (adoptsSecrets)
}

// packSource packs the source a plan names (none: nil data) and checks it
// is still what the plan was made for; at is the source attribute.
func packSource(source, plannedHash types.String, at path.Path, diags *diagnostics) (data []byte, digest string, ok bool) {
	if source.IsNull() {
		return nil, "", true
	}
	data, digest, err := paved.ReadSource(source.ValueString())
	if err != nil {
		diags.AddAttributeError(at, "Cannot read the source", err.Error())
		return nil, "", false
	}
	if want := plannedHash.ValueString(); want != "" && digest != want {
		diags.AddAttributeError(at, "The source changed after the plan",
			fmt.Sprintf("the plan was made for source %s but it now packs to %s; plan again", short(want), short(digest)))
		return nil, "", false
	}
	return data, digest, true
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}
