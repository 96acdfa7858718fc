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
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// ReplicaSetResource is paved_replica_set.
type ReplicaSetResource struct{ data *providerData }

var (
	_ resource.ResourceWithImportState    = (*ReplicaSetResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*ReplicaSetResource)(nil)
	_ resource.ResourceWithValidateConfig = (*ReplicaSetResource)(nil)
)

// NewReplicaSetResource returns paved_replica_set.
func NewReplicaSetResource() resource.Resource { return &ReplicaSetResource{} }

// Metadata names the resource.
func (r *ReplicaSetResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_replica_set"
}

// Schema describes paved_replica_set. The app block has paved_app's
// settings and secret_env, from the same schema code.
func (r *ReplicaSetResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The same app in several regions (cells of the provider's `regions`) behind one global host. " +
			"Every region's router serves `global_host` with its own healthy instances and fails over to the other regions' routers " +
			"when it has none. Availability first: an apply succeeds once `min_healthy_regions` regions converged; the others are " +
			"reported in `regions_status` and converge on the next apply, which the next plan shows.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed: true, MarkdownDescription: "The name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required: true, MarkdownDescription: "Name: a DNS label. Changing it replaces the replica set.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"regions": schema.ListAttribute{
				Required: true, ElementType: types.StringType,
				MarkdownDescription: "Regions of the provider's `regions` to run in. Order matters: with the `canary_region` rollout " +
					"the first reachable one rolls out alone first. A region dropped from the list is cleaned up after the others converged.",
			},
			"min_healthy_regions": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(1),
				MarkdownDescription: "How many regions must converge for an apply to succeed (default 1: availability first, " +
					"so one region down or failing does not block a change; raise it to require more). " +
					"The others are reported degraded and converge on the next apply.",
				Validators: []validator.Int64{int64validator.AtLeast(1)},
			},
			"space": schema.StringAttribute{
				Required: true, MarkdownDescription: "Space of the app in every region, created where missing and never deleted. Changing it replaces the replica set.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"global_host": schema.StringAttribute{
				Required: true, MarkdownDescription: "Host every region's router serves for the set (responses carry `X-Paved-Region`). " +
					"A global host belongs to one replica set.",
			},
			"rollout": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(paved.RolloutCanaryRegion),
				MarkdownDescription: "`canary_region` (default): the first reachable region alone, then the others in parallel; " +
					"when the first fails (its cell rolls back by itself) the others are left as they were and the apply fails. " +
					"`parallel`: every region at once.",
			},
			"source_hash": schema.StringAttribute{
				Computed: true, MarkdownDescription: "sha256 of the packed `app.source`.",
			},
			"regions_status": schema.MapNestedAttribute{
				Computed:            true,
				MarkdownDescription: "Each region's state after the last apply or refresh.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"status":            schema.StringAttribute{Computed: true, MarkdownDescription: "`ready`, `degraded`, `missing` or `skipped` (the canary region failed)."},
					"reason":            schema.StringAttribute{Computed: true, MarkdownDescription: "Why the region is not ready."},
					"release":           schema.Int64Attribute{Computed: true, MarkdownDescription: "The release the region's instances run."},
					"running_instances": schema.Int64Attribute{Computed: true, MarkdownDescription: "Instances passing their health check."},
					"cloud":             schema.StringAttribute{Computed: true, MarkdownDescription: "Cloud label of the region's cell."},
				}},
			},
		},
		Blocks: map[string]schema.Block{
			"app": schema.SingleNestedBlock{
				MarkdownDescription: "The app (required), with `paved_app`'s settings. A change rolls out in place in every region.",
				Attributes:          appBlockAttributes(),
				Blocks:              appSettingsBlocks(),
				Validators:          []validator.Object{objectvalidator.IsRequired()},
			},
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

// appBlockAttributes are paved_app's settings with secret_env.
func appBlockAttributes() map[string]schema.Attribute {
	attrs := appSettingsAttributes()
	maps.Copy(attrs, secretEnvAttributes("Sent to every region with every apply of the set (so a region added later gets them too); "+
		"change `secret_env_version` to apply new values. Without `secret_env` and `secret_env_version` each region's app keeps the secrets it has.",
		"After an import, the configured value alone changes nothing: the first apply records it as the version of the secrets "+
			"each region's app already has, without a rollout (an apply that rolls out another change sends `secret_env` as always)."))
	return attrs
}

// Configure takes the provider's regions.
func (r *ReplicaSetResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig checks the replica set by the library's rules, each
// problem at its attribute: where it runs and what it claims
// (paved.ReplicaSetSpec.Validate; ModifyPlan adds the provider's
// configured regions) and its app (validateAppSettings). What is not
// known yet is left to the plan that knows it.
func (r *ReplicaSetResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m replicaSetModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.App != nil {
		validateAppSettings(&m.App.appSettingsModel, m.App.SecretEnv, path.Root("app"), &resp.Diagnostics)
	}
	spec := m.placement()
	skip := skipped{"app.name"} // the app's own check says it
	for _, a := range []struct {
		field string
		v     attr.Value
	}{{"name", m.Name}, {"space", m.Space}, {"global_host", m.GlobalHost}, {"rollout", m.Rollout}, {"min_healthy_regions", m.MinHealthyRegions}} {
		if a.v.IsUnknown() {
			skip.add(a.field)
		}
	}
	if spec.Regions == nil { // a list (or element) not known yet
		skip.add("regions")
	}
	if spec.MinHealthyRegions < 1 {
		spec.MinHealthyRegions = 0 // the default, or refused by the attribute's validator
	}
	for _, fe := range spec.Validate(nil) {
		var deps []string
		if fe.Field == "min_healthy_regions" {
			deps = []string{"regions"}
		}
		if !skip.covers(fe.Field, deps) {
			resp.Diagnostics.AddAttributeError(replicaSetAttributePath(fe.Field), "Invalid replica set", fe.Message+".")
		}
	}
}

// ModifyPlan plans source_hash from the source on disk, checks the
// regions and the global host against the provider's cells, and plans an
// update while any region has not converged.
func (r *ReplicaSetResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan replicaSetModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.App == nil {
		return
	}
	if !planSourceHash(ctx, plan.App.Source, path.Root("app").AtName("source"), resp) {
		return
	}
	var prior *replicaSetModel
	if !req.State.Raw.IsNull() {
		prior = &replicaSetModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, prior)...)
	}
	if resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	r.checkPlacement(ctx, &plan, prior, &resp.Diagnostics)
	if prior == nil {
		return // create: regions_status is unknown anyway
	}
	// A new source is no config change, so Terraform would keep the old
	// regions_status; a region that has not converged must show as an update.
	var hash types.String
	resp.Diagnostics.Append(resp.Plan.GetAttribute(ctx, path.Root("source_hash"), &hash)...)
	plan.SourceHash = hash
	if !replicaSetChange(ctx, plan, *prior, imported(ctx, req.Private)) {
		// Only what the cells cannot know changes (the local app.source
		// path, an app.secret_env_version adopted after an import,
		// timeouts): Update records it, so every region's status stays.
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("regions_status"), prior.RegionsStatus)...)
		return
	}
	if !hash.Equal(prior.SourceHash) || !prior.allReady(ctx) || !plan.Regions.Equal(prior.Regions) {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("regions_status"), types.MapUnknown(regionStatusType))...)
	}
}

// replicaSetChange tells whether a plan has anything to fan out: a region
// that has not converged, or a change of what the cells have (where the
// set runs and what it claims, the source's content, the app's settings
// as a cell gets them, or a new app.secret_env_version, unless the first
// apply after an import adopts it: see adoptsSecrets).
func replicaSetChange(ctx context.Context, plan, prior replicaSetModel, imported bool) bool {
	if !prior.allReady(ctx) || !plan.placementKnown() || plan.App == nil || prior.App == nil || !plan.SourceHash.Equal(prior.SourceHash) {
		return true
	}
	planned, err1 := json.Marshal(plan.placement())
	was, err2 := json.Marshal(prior.placement())
	if err1 != nil || err2 != nil || !bytes.Equal(planned, was) {
		return true
	}
	adopt := imported && prior.App.SecretEnvVersion.IsNull()
	if !adopt && !plan.App.SecretEnvVersion.Equal(prior.App.SecretEnvVersion) {
		return true
	}
	return settingsChange(&plan.App.appSettingsModel, &prior.App.appSettingsModel)
}

// checkPlacement fails the plan, at the attribute, for a region the
// provider does not configure and for a global host another replica set
// claims: in this plan, or on a cell.
func (r *ReplicaSetResource) checkPlacement(ctx context.Context, plan, prior *replicaSetModel, diags *diagnostics) {
	if !plan.placementKnown() {
		return // checked when known, at apply
	}
	spec := plan.placement()
	for _, fe := range spec.Validate(r.data.regions.Names()) {
		diags.AddAttributeError(replicaSetAttributePath(fe.Field), "Invalid replica set", fe.Message+".")
	}
	if diags.HasError() {
		return
	}
	host := spec.GlobalHost
	if other, taken := r.data.globalHosts.claim(host, spec.Name); taken {
		diags.AddAttributeError(path.Root("global_host"), "Global host claimed twice",
			fmt.Sprintf("replica sets %q and %q both claim global host %q; a global host belongs to one replica set.", other, spec.Name, host))
		return
	}
	// The set this one replaces (a new name) still holds the host until it is destroyed.
	replaced := ""
	if prior != nil {
		replaced = prior.Name.ValueString()
	}
	holders := map[string][]string{}
	for _, h := range r.data.regions.ReplicaSets.HostHolders(ctx, host, spec.Regions) {
		if h.ReplicaSet != spec.Name && h.ReplicaSet != replaced {
			holders[h.ReplicaSet] = append(holders[h.ReplicaSet], h.Region)
		}
	}
	for _, other := range sortedKeys(holders) {
		diags.AddAttributeError(path.Root("global_host"), "Global host held by another replica set",
			fmt.Sprintf("global host %q is held by replica set %q in %s; a global host belongs to one replica set.",
				host, other, strings.Join(holders[other], ", ")))
	}
}

// Create fans the replica set out and waits for the rollouts.
func (r *ReplicaSetResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan replicaSetModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := withTimeout(ctx, plan.Timeouts.Create, defaultRolloutTimeout, &resp.Diagnostics)
	defer cancel()
	r.apply(ctx, plan, nil, req.Config, &resp.State, &resp.Diagnostics)
}

// Update rolls the change out in place in every region.
func (r *ReplicaSetResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state replicaSetModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !replicaSetChange(ctx, plan, state, imported(ctx, req.Private)) {
		// Nothing to fan out (see ModifyPlan): record the plan.
		plan.App.SecretEnv = types.MapNull(types.StringType)
		resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
		applied(ctx, resp.Private, &resp.Diagnostics)
		return
	}
	ctx, cancel := withTimeout(ctx, plan.Timeouts.Update, defaultRolloutTimeout, &resp.Diagnostics)
	defer cancel()
	r.apply(ctx, plan, &state, req.Config, &resp.State, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		applied(ctx, resp.Private, &resp.Diagnostics)
	}
}

// withTimeout bounds ctx by an operation's timeouts block entry (get,
// e.g. plan.Timeouts.Update), or by def when the block does not set it.
func withTimeout(ctx context.Context, get func(context.Context, time.Duration) (time.Duration, diag.Diagnostics),
	def time.Duration, diags *diagnostics) (context.Context, context.CancelFunc) {
	timeout, d := get(ctx, def)
	diags.Append(d...)
	return context.WithTimeout(ctx, timeout)
}

// apply fans plan out and records every region's outcome. Too few regions
// converged fails the apply with the per-region summary; the state then
// keeps the prior settings (on create: the plan's, and Terraform taints
// it) with the new regions_status, so the change stays pending and the
// failure shows.
func (r *ReplicaSetResource) apply(ctx context.Context, plan replicaSetModel, prior *replicaSetModel, config configGetter, st stateSetter, diags *diagnostics) {
	source, digest, ok := packSource(plan.App.Source, plan.SourceHash, path.Root("app").AtName("source"), diags)
	spec := plan.toSpec(source, digest)
	// The secrets go to every region each time (a region that joins or
	// lost its app needs them); a cell cuts no release for the same values.
	if !plan.App.SecretEnvVersion.IsNull() || configSet(ctx, config, path.Root("app").AtName("secret_env"), diags) {
		spec.App.SecretEnv = secretEnvFrom(ctx, config, path.Root("app").AtName("secret_env"), diags)
	}
	if !ok || diags.HasError() {
		return
	}
	status, err := r.data.regions.ReplicaSets.Apply(ctx, spec, nil)
	if status == nil {
		addError(diags, "Could not apply replica set "+spec.Name, err)
		return
	}
	saved := plan
	saved.App.SecretEnv = types.MapNull(types.StringType)
	saved.SourceHash = stringOrNull(digest)
	if err != nil {
		diags.AddError("Replica set "+spec.Name+" did not converge", err.Error())
		if prior != nil {
			saved = *prior
		}
	} else if prior != nil {
		r.leave(ctx, spec.Name, paved.RegionsLeft(spec.Regions, prior.regionNames()), diags)
	}
	saved.ID = types.StringValue(spec.Name)
	diags.Append(saved.setStatus(ctx, status)...)
	diags.Append(st.Set(ctx, saved)...)
}

// leave removes the set from regions dropped from the list, once the
// others converged (their records no longer name them). A region that
// cannot be cleaned is a warning: dropping a dead region must not block.
func (r *ReplicaSetResource) leave(ctx context.Context, name string, removed []string, diags *diagnostics) {
	configured := r.configured(name, removed, diags)
	if len(configured) == 0 {
		return
	}
	if err := r.data.regions.ReplicaSets.Delete(ctx, name, configured); err != nil {
		diags.AddWarning("Regions left without cleanup",
			fmt.Sprintf("%s left replica set %s but could not be cleaned up; remove the app and record there by hand:\n%v", strings.Join(configured, ", "), name, err))
	}
}

// configured returns the regions the provider configures and warns about
// the others: their cells cannot be reached, so the set stays there.
func (r *ReplicaSetResource) configured(name string, regions []string, diags *diagnostics) []string {
	configured, gone := r.data.regions.Split(regions)
	if len(gone) > 0 {
		diags.AddWarning("Regions left without cleanup",
			fmt.Sprintf("the provider no longer configures %s, so replica set %s (its app and record) stays there.", strings.Join(gone, ", "), name))
	}
	return configured
}

// Read refreshes regions_status; a replica set no region has any more
// leaves the state. On import (no regions yet) it adopts the set from the
// regions that hold it.
func (r *ReplicaSetResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m replicaSetModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	importing := m.Regions.IsNull()
	var regions, gone []string // nil regions: every configured region
	if !importing {
		regions, gone = r.data.regions.Split(m.regionNames())
	}
	status, err := r.data.regions.ReplicaSets.Read(ctx, m.ID.ValueString(), regions)
	if err != nil {
		addError(&resp.Diagnostics, "Could not read replica set "+m.ID.ValueString(), err)
		return
	}
	if importing {
		if status = m.adopt(ctx, status, &resp.Diagnostics); status == nil {
			return
		}
	} else if allMissing(status) && len(gone) == 0 {
		removeGone(ctx, resp, nil)
		return
	}
	for _, name := range gone {
		status.Regions = append(status.Regions, paved.RegionStatus{Region: name, Status: paved.RegionDegraded,
			Reason: "not in the provider's regions any more"})
	}
	typedTimeouts(ctx, &m.Timeouts)
	resp.Diagnostics.Append(m.setStatus(ctx, status)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func allMissing(st *paved.ReplicaSetStatus) bool {
	for _, r := range st.Regions {
		if r.Status != paved.RegionMissing {
			return false
		}
	}
	return true
}

// Delete removes the app and the record from every region of the set; the
// space stays. An unreachable region fails the destroy, naming it.
func (r *ReplicaSetResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m replicaSetModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := withTimeout(ctx, m.Timeouts.Delete, 5*time.Minute, &resp.Diagnostics)
	defer cancel()
	configured := r.configured(m.ID.ValueString(), m.regionNames(), &resp.Diagnostics)
	if err := r.data.regions.ReplicaSets.Delete(ctx, m.ID.ValueString(), configured); err != nil {
		addError(&resp.Diagnostics, "Could not delete replica set "+m.ID.ValueString(), err)
	}
}

// ImportState imports by name; Read adopts the set from the regions that
// hold it.
func (r *ReplicaSetResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := validators.CheckName(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID", "import a replica set by its name, e.g. donations: "+err.Error())
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
	markImported(ctx, resp.Private, &resp.Diagnostics) // the first apply adopts the secrets (replicaSetChange)
}
