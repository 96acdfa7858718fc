package provider

import (
	"context"
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// appModel is paved_app in Terraform.
type appModel struct {
	ID    types.String `tfsdk:"id"`
	Space types.String `tfsdk:"space"`
	appSettingsModel
	SourceHash       types.String   `tfsdk:"source_hash"`
	SecretEnv        types.Map      `tfsdk:"secret_env"`
	SecretEnvVersion types.String   `tfsdk:"secret_env_version"`
	Timeouts         timeouts.Value `tfsdk:"timeouts"`

	Release          types.Int64  `tfsdk:"release"`
	LastGoodRelease  types.Int64  `tfsdk:"last_good_release"`
	Status           types.String `tfsdk:"status"`
	URLs             types.List   `tfsdk:"urls"`
	RunningInstances types.Int64  `tfsdk:"running_instances"`
}

// appSettingsModel is what a user declares about an app: paved_app and
// the app block of paved_replica_set share it (see appSettingsSchema).
type appSettingsModel struct {
	Name        types.String      `tfsdk:"name"`
	Source      types.String      `tfsdk:"source"`
	Build       types.String      `tfsdk:"build"`
	Command     types.String      `tfsdk:"command"`
	Instances   types.Int64       `tfsdk:"instances"`
	Env         types.Map         `tfsdk:"env"`
	MemoryMB    types.Int64       `tfsdk:"memory_mb"`
	Routes      types.List        `tfsdk:"routes"`
	HealthCheck *healthCheckModel `tfsdk:"health_check"`
	Deployment  *deploymentModel  `tfsdk:"deployment"`
}

type healthCheckModel struct {
	Type     types.String `tfsdk:"type"`
	Path     types.String `tfsdk:"path"`
	Interval types.String `tfsdk:"interval"`
	Timeout  types.String `tfsdk:"timeout"`
	Grace    types.String `tfsdk:"grace"`
}

type deploymentModel struct {
	Strategy         types.String `tfsdk:"strategy"`
	MaxInFlight      types.String `tfsdk:"max_in_flight"`
	MinHealthyTime   types.String `tfsdk:"min_healthy_time"`
	ProgressDeadline types.String `tfsdk:"progress_deadline"`
	AutoRollback     types.Bool   `tfsdk:"auto_rollback"`
	DrainTimeout     types.String `tfsdk:"drain_timeout"`
	KeepOld          types.String `tfsdk:"keep_old"`
	Canary           *canaryModel `tfsdk:"canary"`
}

type canaryModel struct {
	Steps        types.List    `tfsdk:"steps"`
	Watch        types.String  `tfsdk:"watch"`
	MaxErrorRate types.Float64 `tfsdk:"max_error_rate"`
	MinRequests  types.Int64   `tfsdk:"min_requests"`
}

// toSpec builds the API spec from a plan (secret values are added by the
// caller): the spec the plan-time checks judged (specOf).
func (m *appSettingsModel) toSpec(digest string) paved.AppSpec {
	spec, _ := m.specOf(types.MapNull(types.StringType))
	spec.Source = digest
	return spec
}

// fill sets the model from the cell: settings that make a release come from
// cfg, the release that runs (so a change that was rolled back stays
// pending; see Releases.Running), the rest from the app's spec.
func (m *appModel) fill(ctx context.Context, a *paved.App, cfg paved.ReleaseConfig) diag.Diagnostics {
	diags := m.fillSettings(ctx, a, &cfg)
	m.ID = types.StringValue(a.Space + "/" + a.Name)
	m.Space = types.StringValue(a.Space)
	m.SourceHash = stringOrNull(cfg.Source)
	v, d := types.ListValueFrom(ctx, types.StringType, a.URLs())
	diags.Append(d...)
	m.URLs = v
	m.Release = types.Int64Value(int64(a.Release))
	m.LastGoodRelease = types.Int64Value(int64(a.LastGoodRelease))
	m.Status = types.StringValue(a.Status)
	m.RunningInstances = types.Int64Value(int64(a.RunningCount))
	return diags
}

// fillSettings sets the declared settings from the cell: those that make
// a release from cfg, the rest from the app's spec. The prior values keep
// the user's spelling of equivalent values ("1m" vs "1m0s") and null for
// what the config leaves out.
func (m *appSettingsModel) fillSettings(ctx context.Context, a *paved.App, cfg *paved.ReleaseConfig) diag.Diagnostics {
	var diags diag.Diagnostics
	m.Name = types.StringValue(a.Name)
	m.Build = stringOrNull(cfg.Build)
	m.Command = types.StringValue(cfg.Command)
	m.Instances = types.Int64Value(int64(a.Instances))
	m.MemoryMB = types.Int64Value(int64(cfg.MemoryMB))
	if len(cfg.Env) > 0 || !m.Env.IsNull() {
		env := cfg.Env
		if env == nil {
			env = map[string]string{}
		}
		v, d := types.MapValueFrom(ctx, types.StringType, env)
		diags.Append(d...)
		m.Env = v
	}
	routes := make([]string, 0, len(a.Routes))
	for _, r := range a.Routes {
		routes = append(routes, r.String())
	}
	if len(routes) > 0 || !m.Routes.IsNull() {
		v, d := types.ListValueFrom(ctx, types.StringType, routes)
		diags.Append(d...)
		m.Routes = v
	}
	m.HealthCheck = healthFrom(cfg.HealthCheck, m.HealthCheck)
	m.Deployment = deploymentFrom(ctx, a.Deployment, m.Deployment, &diags)
	return diags
}

func healthFrom(hc *paved.HealthCheck, prior *healthCheckModel) *healthCheckModel {
	if hc == nil {
		return nil
	}
	if prior == nil {
		prior = &healthCheckModel{}
	}
	return &healthCheckModel{
		Type:     types.StringValue(hc.Type),
		Path:     stringOrNull(hc.Path),
		Interval: durationString(hc.Interval, prior.Interval),
		Timeout:  durationString(hc.Timeout, prior.Timeout),
		Grace:    durationString(hc.Grace, prior.Grace),
	}
}

func deploymentFrom(ctx context.Context, d *paved.DeploymentSpec, prior *deploymentModel, diags *diag.Diagnostics) *deploymentModel {
	if d == nil {
		return nil
	}
	if prior == nil {
		prior = &deploymentModel{}
	}
	out := &deploymentModel{
		Strategy:       stringOrNull(d.Strategy),
		MaxInFlight:    stringOrNull(d.MaxInFlight),
		MinHealthyTime: durationString(d.MinHealthyTime, prior.MinHealthyTime),
		DrainTimeout:   durationString(d.DrainTimeout, prior.DrainTimeout),
		KeepOld:        durationString(d.KeepOld, prior.KeepOld),
		AutoRollback:   types.BoolNull(),
	}
	out.ProgressDeadline = types.StringNull()
	if d.ProgressDeadline != nil {
		out.ProgressDeadline = durationString(*d.ProgressDeadline, prior.ProgressDeadline)
	}
	if d.AutoRollback != nil {
		out.AutoRollback = types.BoolValue(*d.AutoRollback)
	}
	if len(d.Steps) > 0 || d.MaxErrorRate != nil || d.MinRequests > 0 {
		priorCanary := prior.Canary
		if priorCanary == nil {
			priorCanary = &canaryModel{}
		}
		c := &canaryModel{MaxErrorRate: types.Float64Null(), MinRequests: types.Int64Null(), Watch: types.StringNull()}
		weights, watch := paved.StepWeights(d.Steps)
		if weights == nil {
			weights = []int{}
		}
		v, dg := types.ListValueFrom(ctx, types.Int64Type, weights)
		diags.Append(dg...)
		c.Steps = v
		if len(d.Steps) > 0 {
			c.Watch = durationString(watch, priorCanary.Watch)
		}
		if d.MaxErrorRate != nil {
			c.MaxErrorRate = types.Float64Value(*d.MaxErrorRate)
		}
		if d.MinRequests > 0 {
			c.MinRequests = types.Int64Value(int64(d.MinRequests))
		}
		out.Canary = c
	}
	return out
}

func stringOrNull(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func durationOf(v types.String) paved.Duration {
	if v.IsNull() || v.IsUnknown() {
		return 0
	}
	d, _ := time.ParseDuration(v.ValueString())
	return paved.Duration(d)
}

// durationString renders a duration from the cell, keeping the prior
// spelling when it means the same ("1m" stays "1m", not "1m0s"), so an
// unchanged config plans empty.
func durationString(d paved.Duration, prior types.String) types.String {
	if d == 0 && (prior.IsNull() || prior.IsUnknown()) {
		return types.StringNull()
	}
	if !prior.IsNull() && !prior.IsUnknown() {
		if p, err := time.ParseDuration(prior.ValueString()); err == nil && p == d.D() {
			return prior
		}
	}
	return types.StringValue(d.D().String())
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
