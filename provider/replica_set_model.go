package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// replicaSetModel is paved_replica_set in Terraform.
type replicaSetModel struct {
	ID                types.String        `tfsdk:"id"`
	Name              types.String        `tfsdk:"name"`
	Regions           types.List          `tfsdk:"regions"`
	MinHealthyRegions types.Int64         `tfsdk:"min_healthy_regions"`
	Space             types.String        `tfsdk:"space"`
	GlobalHost        types.String        `tfsdk:"global_host"`
	Rollout           types.String        `tfsdk:"rollout"`
	App               *replicaSetAppModel `tfsdk:"app"`
	SourceHash        types.String        `tfsdk:"source_hash"`
	RegionsStatus     types.Map           `tfsdk:"regions_status"`
	Timeouts          timeouts.Value      `tfsdk:"timeouts"`
}

// replicaSetAppModel is the app block: paved_app's settings and its
// write-only secret_env (null everywhere but in the config).
type replicaSetAppModel struct {
	appSettingsModel
	SecretEnv        types.Map    `tfsdk:"secret_env"`
	SecretEnvVersion types.String `tfsdk:"secret_env_version"`
}

// regionStatusModel is one region of regions_status.
type regionStatusModel struct {
	Status           types.String `tfsdk:"status"`
	Reason           types.String `tfsdk:"reason"`
	Release          types.Int64  `tfsdk:"release"`
	RunningInstances types.Int64  `tfsdk:"running_instances"`
	Cloud            types.String `tfsdk:"cloud"`
}

var regionStatusType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"status": types.StringType, "reason": types.StringType, "release": types.Int64Type,
	"running_instances": types.Int64Type, "cloud": types.StringType,
}}

// regionNames is the regions list; an unknown one (or element) gives nil.
func (m *replicaSetModel) regionNames() []string {
	if m.Regions.IsNull() || m.Regions.IsUnknown() {
		return nil
	}
	names := make([]string, 0, len(m.Regions.Elements()))
	for _, v := range m.Regions.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() || s.IsNull() {
			return nil
		}
		names = append(names, s.ValueString())
	}
	return names
}

// placementKnown tells whether everything that decides where the set runs
// and what it claims is known at plan time (it may come from other resources).
func (m *replicaSetModel) placementKnown() bool {
	for _, v := range []attr.Value{m.Name, m.MinHealthyRegions, m.Space, m.GlobalHost, m.Rollout} {
		if v.IsUnknown() {
			return false
		}
	}
	return m.regionNames() != nil && m.App != nil && !m.App.Name.IsUnknown()
}

// placement is the spec without the app's settings and source: what
// decides where the set runs and what it claims, checked at plan time
// (the app's env may still hold values unknown until apply).
func (m *replicaSetModel) placement() paved.ReplicaSetSpec {
	spec := paved.ReplicaSetSpec{
		Name:              m.Name.ValueString(),
		Regions:           m.regionNames(),
		MinHealthyRegions: int(m.MinHealthyRegions.ValueInt64()),
		Space:             m.Space.ValueString(),
		GlobalHost:        m.GlobalHost.ValueString(),
		Rollout:           m.Rollout.ValueString(),
	}
	if m.App != nil {
		spec.App.Name = m.App.Name.ValueString()
	}
	return spec
}

// toSpec builds the library's spec; source is the packed archive (nil when
// the app has none) and digest its sha256.
func (m *replicaSetModel) toSpec(source []byte, digest string) paved.ReplicaSetSpec {
	spec := m.placement()
	spec.Source = source
	if m.App != nil {
		spec.App = m.App.toSpec(digest)
	}
	return spec
}

// setStatus records every region's outcome in regions_status.
func (m *replicaSetModel) setStatus(ctx context.Context, st *paved.ReplicaSetStatus) diag.Diagnostics {
	byRegion := make(map[string]regionStatusModel, len(st.Regions))
	for _, r := range st.Regions {
		byRegion[r.Region] = regionStatusModel{
			Status: types.StringValue(r.Status), Reason: stringOrNull(r.Reason), Cloud: stringOrNull(r.Cloud),
			Release: types.Int64Value(int64(r.Release)), RunningInstances: types.Int64Value(int64(r.RunningInstances)),
		}
	}
	v, diags := types.MapValueFrom(ctx, regionStatusType, byRegion)
	m.RegionsStatus = v
	return diags
}

// allReady tells whether every region in regions_status had converged.
func (m *replicaSetModel) allReady(ctx context.Context) bool {
	if m.RegionsStatus.IsNull() || m.RegionsStatus.IsUnknown() {
		return false
	}
	var byRegion map[string]regionStatusModel
	if diags := m.RegionsStatus.ElementsAs(ctx, &byRegion, false); diags.HasError() {
		return false
	}
	for _, r := range byRegion {
		if r.Status.ValueString() != paved.RegionReady {
			return false
		}
	}
	return true
}

// adopt fills an imported replica set from the regions that hold it: its
// regions (in name order: the first is the canary region), space, global
// host and the app's settings as the first of them runs it. It returns
// the status of those regions, or nil when none holds the set.
func (m *replicaSetModel) adopt(ctx context.Context, st *paved.ReplicaSetStatus, diags *diag.Diagnostics) *paved.ReplicaSetStatus {
	held := &paved.ReplicaSetStatus{Name: st.Name, Space: st.Space, App: st.App, GlobalHost: st.GlobalHost}
	var app *paved.App
	for _, r := range st.Regions {
		if r.Record == nil {
			continue
		}
		held.Regions = append(held.Regions, r)
		if app == nil {
			app = r.App
		}
	}
	if app == nil {
		diags.AddError("Cannot import replica set "+st.Name,
			fmt.Sprintf("no reachable region runs replica set %q:\n%s", st.Name, st.Summary()))
		return nil
	}
	names := make([]string, len(held.Regions))
	for i, r := range held.Regions {
		names[i] = r.Region
	}
	regions, d := types.ListValueFrom(ctx, types.StringType, names)
	diags.Append(d...)
	m.ID, m.Name, m.Regions = types.StringValue(st.Name), types.StringValue(st.Name), regions
	m.Space, m.GlobalHost = types.StringValue(st.Space), types.StringValue(st.GlobalHost)
	m.MinHealthyRegions, m.Rollout = types.Int64Value(1), types.StringValue(paved.RolloutCanaryRegion)
	m.App = &replicaSetAppModel{appSettingsModel: appSettingsModel{Env: types.MapNull(types.StringType), Routes: types.ListNull(types.StringType)},
		SecretEnv: types.MapNull(types.StringType), SecretEnvVersion: types.StringNull()}
	cfg := app.SpecConfig()
	diags.Append(m.App.fillSettings(ctx, app, &cfg)...)
	m.SourceHash = stringOrNull(app.Source)
	return held
}

// replicaSetAttributePath maps a field of the library's validation
// ("regions[1]", "app.name") to the attribute it came from.
func replicaSetAttributePath(field string) path.Path { return fieldPath(field, nil) }
