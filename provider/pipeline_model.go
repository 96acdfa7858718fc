package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

type pipelineModel struct {
	ID           types.String          `tfsdk:"id"`
	Space        types.String          `tfsdk:"space"`
	Name         types.String          `tfsdk:"name"`
	Paused       types.Bool            `tfsdk:"paused"`
	Retain       types.Int64           `tfsdk:"retain"`
	Sources      []pipelineSourceModel `tfsdk:"source"`
	Jobs         []pipelineJobModel    `tfsdk:"job"`
	WebhookPaths types.Map             `tfsdk:"webhook_paths"`
	// WebhookSecretsWO is write-only: null everywhere but in the config.
	WebhookSecretsWO        types.Map   `tfsdk:"webhook_secrets_wo"`
	WebhookSecretsWOVersion types.Int64 `tfsdk:"webhook_secrets_wo_version"`
}

type pipelineSourceModel struct {
	Name       types.String `tfsdk:"name"`
	Type       types.String `tfsdk:"type"`
	URI        types.String `tfsdk:"uri"`
	Branch     types.String `tfsdk:"branch"`
	Paths      types.List   `tfsdk:"paths"`
	CheckEvery types.String `tfsdk:"check_every"`
	Initial    types.String `tfsdk:"initial"`
	Interval   types.String `tfsdk:"interval"`
	App        types.String `tfsdk:"app"`
	Gate       types.Bool   `tfsdk:"gate"`
}

type pipelineJobModel struct {
	Name        types.String `tfsdk:"name"`
	Serial      types.Bool   `tfsdk:"serial"`
	MaxInFlight types.Int64  `tfsdk:"max_in_flight"`
	Steps       []stepModel  `tfsdk:"step"`
	OnSuccess   *stepModel   `tfsdk:"on_success"`
	OnFailure   *stepModel   `tfsdk:"on_failure"`
	Ensure      *stepModel   `tfsdk:"ensure"`
}

// leafStepModel is one step that does one thing.
type leafStepModel struct {
	Get            types.String `tfsdk:"get"`
	Trigger        types.Bool   `tfsdk:"trigger"`
	Passed         types.List   `tfsdk:"passed"`
	Version        types.String `tfsdk:"version"`
	Task           types.String `tfsdk:"task"`
	Run            types.String `tfsdk:"run"`
	Dir            types.String `tfsdk:"dir"`
	Env            types.Map    `tfsdk:"env"`
	Inputs         types.List   `tfsdk:"inputs"`
	Outputs        types.List   `tfsdk:"outputs"`
	Timeout        types.String `tfsdk:"timeout"`
	Attempts       types.Int64  `tfsdk:"attempts"`
	Deploy         types.String `tfsdk:"deploy"`
	From           types.String `tfsdk:"from"`
	Assert         types.String `tfsdk:"assert"`
	Command        types.String `tfsdk:"command"`
	HTTPURL        types.String `tfsdk:"http_url"`
	HTTPHost       types.String `tfsdk:"http_host"`
	HTTPStatus     types.Int64  `tfsdk:"http_status"`
	HTTPContains   types.String `tfsdk:"http_contains"`
	HTTPMaxLatency types.String `tfsdk:"http_max_latency"`
	Put            types.String `tfsdk:"put"`
	Bump           types.String `tfsdk:"bump"`
	Environment    types.String `tfsdk:"environment"`
	FromSpace      types.String `tfsdk:"from_space"`
	App            types.String `tfsdk:"app"`
	Source         types.String `tfsdk:"source"`
	TTL            types.String `tfsdk:"ttl"`
	BackupPath     types.String `tfsdk:"backup_path"`
	BackupApp      types.String `tfsdk:"backup_app"`
}

// stepModel is a step of a job: a leaf, or in_parallel leaves; try wraps it.
type stepModel struct {
	leafStepModel
	Try        types.Bool      `tfsdk:"try"`
	InParallel []leafStepModel `tfsdk:"in_parallel"`
}

func strs(ctx context.Context, l types.List, diags *diag.Diagnostics) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var out []string
	diags.Append(l.ElementsAs(ctx, &out, false)...)
	return out
}

func (m *pipelineModel) toSpec(ctx context.Context, diags *diag.Diagnostics) paved.PipelineSpec {
	spec := paved.PipelineSpec{Name: m.Name.ValueString(), Paused: m.Paused.ValueBool(), Retain: int(m.Retain.ValueInt64())}
	for _, s := range m.Sources {
		spec.Sources = append(spec.Sources, paved.SourceSpec{
			Name: s.Name.ValueString(), Type: s.Type.ValueString(), URI: s.URI.ValueString(), Branch: s.Branch.ValueString(),
			Paths: strs(ctx, s.Paths, diags), CheckEvery: durationOf(s.CheckEvery), Initial: s.Initial.ValueString(),
			Interval: durationOf(s.Interval), App: s.App.ValueString(), Gate: s.Gate.ValueBool(),
		})
	}
	for _, j := range m.Jobs {
		job := paved.JobSpec{Name: j.Name.ValueString(), Serial: j.Serial.ValueBool(), MaxInFlight: int(j.MaxInFlight.ValueInt64())}
		for _, s := range j.Steps {
			job.Plan = append(job.Plan, s.toStep(ctx, diags))
		}
		job.OnSuccess, job.OnFailure, job.Ensure = hookStep(ctx, j.OnSuccess, diags), hookStep(ctx, j.OnFailure, diags), hookStep(ctx, j.Ensure, diags)
		spec.Jobs = append(spec.Jobs, job)
	}
	return spec
}

func hookStep(ctx context.Context, s *stepModel, diags *diag.Diagnostics) *paved.Step {
	if s == nil {
		return nil
	}
	st := s.toStep(ctx, diags)
	return &st
}

func (s stepModel) toStep(ctx context.Context, diags *diag.Diagnostics) paved.Step {
	var st paved.Step
	if len(s.InParallel) > 0 {
		for _, l := range s.InParallel {
			st.InParallel = append(st.InParallel, l.toStep(ctx, diags))
		}
	} else {
		st = s.leafStepModel.toStep(ctx, diags)
	}
	if s.Try.ValueBool() {
		inner := st
		st = paved.Step{Try: &inner}
	}
	return st
}

func (l leafStepModel) toStep(ctx context.Context, diags *diag.Diagnostics) paved.Step {
	st := paved.Step{
		Get: l.Get.ValueString(), Trigger: l.Trigger.ValueBool(), Passed: strs(ctx, l.Passed, diags), Version: l.Version.ValueString(),
		Task: l.Task.ValueString(), Run: l.Run.ValueString(), Dir: l.Dir.ValueString(), Inputs: strs(ctx, l.Inputs, diags),
		Outputs: strs(ctx, l.Outputs, diags), Timeout: durationOf(l.Timeout), Attempts: int(l.Attempts.ValueInt64()),
		Deploy: l.Deploy.ValueString(), From: l.From.ValueString(), Assert: l.Assert.ValueString(), Command: l.Command.ValueString(),
		Put: l.Put.ValueString(), Bump: l.Bump.ValueString(),
		Environment: l.Environment.ValueString(), FromSpace: l.FromSpace.ValueString(), App: l.App.ValueString(),
		Source: l.Source.ValueString(), TTL: durationOf(l.TTL),
	}
	if !l.BackupPath.IsNull() || !l.BackupApp.IsNull() {
		st.Backup = &paved.BackupAssert{Path: l.BackupPath.ValueString(), App: l.BackupApp.ValueString()}
	}
	if !l.Env.IsNull() && !l.Env.IsUnknown() {
		diags.Append(l.Env.ElementsAs(ctx, &st.Env, false)...)
	}
	if !l.HTTPURL.IsNull() {
		st.HTTP = &paved.HTTPAssert{URL: l.HTTPURL.ValueString(), Host: l.HTTPHost.ValueString(), Status: int(l.HTTPStatus.ValueInt64()),
			Contains: l.HTTPContains.ValueString(), MaxLatency: durationOf(l.HTTPMaxLatency)}
	}
	return st
}

// fill sets the model from the cell, keeping null for what the config
// left out and the user's spelling of durations.
func (m *pipelineModel) fill(ctx context.Context, p *paved.Pipeline, diags *diag.Diagnostics) {
	prior := *m
	m.ID = types.StringValue(p.Space + "/" + p.Name)
	m.Space, m.Name = types.StringValue(p.Space), types.StringValue(p.Name)
	m.Paused = boolKeep(p.Paused, prior.Paused)
	m.Retain = intKeep(p.Retain, prior.Retain)
	m.Sources = nil
	for i, s := range p.Sources {
		var ps pipelineSourceModel
		if i < len(prior.Sources) {
			ps = prior.Sources[i]
		}
		m.Sources = append(m.Sources, pipelineSourceModel{
			Name: types.StringValue(s.Name), Type: types.StringValue(s.Type), URI: stringOrNull(s.URI), Branch: stringOrNull(s.Branch),
			Paths: listKeep(ctx, s.Paths, ps.Paths, diags), CheckEvery: durationString(s.CheckEvery, ps.CheckEvery),
			Initial: stringOrNull(s.Initial), Interval: durationString(s.Interval, ps.Interval), App: stringOrNull(s.App),
			Gate: boolKeep(s.Gate, ps.Gate),
		})
	}
	m.Jobs = nil
	for i, j := range p.Jobs {
		var pj pipelineJobModel
		if i < len(prior.Jobs) {
			pj = prior.Jobs[i]
		}
		job := pipelineJobModel{Name: types.StringValue(j.Name), Serial: boolKeep(j.Serial, pj.Serial), MaxInFlight: intKeep(j.MaxInFlight, pj.MaxInFlight)}
		for k, s := range j.Plan {
			var ps stepModel
			if k < len(pj.Steps) {
				ps = pj.Steps[k]
			}
			job.Steps = append(job.Steps, stepFrom(ctx, s, ps, diags))
		}
		job.OnSuccess, job.OnFailure, job.Ensure = hookFrom(ctx, j.OnSuccess, pj.OnSuccess, diags), hookFrom(ctx, j.OnFailure, pj.OnFailure, diags), hookFrom(ctx, j.Ensure, pj.Ensure, diags)
		m.Jobs = append(m.Jobs, job)
	}
	// A secret the cell generated (a source without one in
	// webhook_secrets_wo) is dropped: it must not reach the state.
	paths := map[string]string{}
	for src, h := range p.Webhooks {
		paths[src] = h.Path
	}
	var d diag.Diagnostics
	m.WebhookPaths, d = types.MapValueFrom(ctx, types.StringType, paths)
	diags.Append(d...)
	m.WebhookSecretsWO = types.MapNull(types.StringType)
}

// webhookSecrets reads webhook_secrets_wo from the config (the only place
// a write-only value is): nil when it is not set.
func webhookSecrets(ctx context.Context, config configGetter, diags *diag.Diagnostics) map[string]string {
	var secrets types.Map
	diags.Append(config.GetAttribute(ctx, path.Root("webhook_secrets_wo"), &secrets)...)
	if secrets.IsNull() || secrets.IsUnknown() {
		return nil
	}
	out := map[string]string{}
	diags.Append(secrets.ElementsAs(ctx, &out, false)...)
	return out
}

func hookFrom(ctx context.Context, s *paved.Step, prior *stepModel, diags *diag.Diagnostics) *stepModel {
	if s == nil {
		return nil
	}
	if prior == nil {
		prior = &stepModel{}
	}
	out := stepFrom(ctx, *s, *prior, diags)
	return &out
}

func stepFrom(ctx context.Context, s paved.Step, prior stepModel, diags *diag.Diagnostics) stepModel {
	out := stepModel{Try: boolKeep(false, prior.Try)}
	if s.Try != nil {
		out.Try = types.BoolValue(true)
		s = *s.Try
	}
	if len(s.InParallel) > 0 {
		for i, l := range s.InParallel {
			var pl leafStepModel
			if i < len(prior.InParallel) {
				pl = prior.InParallel[i]
			}
			out.InParallel = append(out.InParallel, leafFrom(ctx, l, pl, diags))
		}
		out.leafStepModel = leafFrom(ctx, paved.Step{}, prior.leafStepModel, diags)
		return out
	}
	out.leafStepModel = leafFrom(ctx, s, prior.leafStepModel, diags)
	return out
}

func leafFrom(ctx context.Context, s paved.Step, p leafStepModel, diags *diag.Diagnostics) leafStepModel {
	l := leafStepModel{
		Get: stringOrNull(s.Get), Trigger: boolKeep(s.Trigger, p.Trigger), Passed: listKeep(ctx, s.Passed, p.Passed, diags), Version: stringOrNull(s.Version),
		Task: stringOrNull(s.Task), Run: stringOrNull(s.Run), Dir: stringOrNull(s.Dir), Inputs: listKeep(ctx, s.Inputs, p.Inputs, diags),
		Outputs: listKeep(ctx, s.Outputs, p.Outputs, diags), Timeout: durationString(s.Timeout, p.Timeout), Attempts: intKeep(s.Attempts, p.Attempts),
		Deploy: stringOrNull(s.Deploy), From: stringOrNull(s.From), Assert: stringOrNull(s.Assert), Command: stringOrNull(s.Command),
		Put: stringOrNull(s.Put), Bump: stringOrNull(s.Bump), Env: types.MapNull(types.StringType),
		Environment: stringOrNull(s.Environment), FromSpace: stringOrNull(s.FromSpace), App: stringOrNull(s.App),
		Source: stringOrNull(s.Source), TTL: durationString(s.TTL, p.TTL), BackupPath: types.StringNull(), BackupApp: types.StringNull(),
		HTTPURL: types.StringNull(), HTTPHost: types.StringNull(), HTTPStatus: types.Int64Null(), HTTPContains: types.StringNull(), HTTPMaxLatency: types.StringNull(),
	}
	if len(s.Env) > 0 || !p.Env.IsNull() {
		v, d := types.MapValueFrom(ctx, types.StringType, s.Env)
		diags.Append(d...)
		l.Env = v
	}
	if bk := s.Backup; bk != nil {
		l.BackupPath, l.BackupApp = stringOrNull(bk.Path), stringOrNull(bk.App)
	}
	if h := s.HTTP; h != nil {
		l.HTTPURL, l.HTTPHost, l.HTTPContains = types.StringValue(h.URL), stringOrNull(h.Host), stringOrNull(h.Contains)
		l.HTTPStatus, l.HTTPMaxLatency = intKeep(h.Status, p.HTTPStatus), durationString(h.MaxLatency, p.HTTPMaxLatency)
	}
	return l
}

func boolKeep(v bool, prior types.Bool) types.Bool {
	if !v && prior.IsNull() {
		return types.BoolNull()
	}
	return types.BoolValue(v)
}

func intKeep(v int, prior types.Int64) types.Int64 {
	if v == 0 && prior.IsNull() {
		return types.Int64Null()
	}
	return types.Int64Value(int64(v))
}

func listKeep(ctx context.Context, v []string, prior types.List, diags *diag.Diagnostics) types.List {
	if len(v) == 0 && (prior.IsNull() || prior.IsUnknown()) {
		return types.ListNull(types.StringType)
	}
	if v == nil {
		v = []string{}
	}
	l, d := types.ListValueFrom(ctx, types.StringType, v)
	diags.Append(d...)
	return l
}

// pipelineAttributePath maps a validation path ("jobs[1].plan[0].passed[0]")
// to the attribute of the paved_pipeline resource.
func pipelineAttributePath(field string) path.Path {
	return fieldPath(field, map[string]string{"sources": "source", "jobs": "job", "plan": "step", "http": "http_url",
		"webhook_secrets": "webhook_secrets_wo", // webhook_secrets.SOURCE: the source's key of the map
		"try":             "",                   // try is a flag on the same step block
	}, "webhook_secrets")
}

func pipelineDiags(errs []paved.FieldError, diags *diag.Diagnostics) {
	for _, e := range errs {
		diags.AddAttributeError(pipelineAttributePath(e.Field), "Invalid pipeline", fmt.Sprintf("%s: %s", e.Field, e.Message))
	}
}
