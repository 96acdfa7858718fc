package provider

import (
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// validateAppSettings checks an app's settings as configured by the
// library's rules (paved.AppSpec.Validate, which the cell refuses an app
// by), each problem at its attribute; at is where the settings sit
// (path.Empty() in paved_app, the app block in paved_replica_set) and
// secretEnv is the config's write-only secret_env. What a single
// attribute's validator says (a duration that is none, an empty build) is
// left to it, and what is not known yet to the plan that knows it.
func validateAppSettings(m *appSettingsModel, secretEnv types.Map, at path.Path, diags *diagnostics) {
	spec, skip := m.specOf(secretEnv)
	for _, fe := range spec.Validate() {
		if skip.covers(fe.Field, paved.AppFieldDependencies(fe.Field)) {
			continue
		}
		p, _ := appAttributePath(at, fe.Field)
		diags.AddAttributeError(p, "Invalid app", fe.Message+".")
	}
	// What the library cannot see: a canary block that sets nothing it
	// judges (only watch, or nothing) on another strategy.
	if d := m.Deployment; d != nil && d.Canary != nil && !d.Strategy.IsUnknown() && d.Strategy.ValueString() != paved.StrategyCanary &&
		d.Canary.Steps.IsNull() && d.Canary.MaxErrorRate.IsNull() && d.Canary.MinRequests.IsNull() {
		diags.AddAttributeError(at.AtName("deployment").AtName("canary"), "Canary settings need the canary strategy",
			"the canary block only applies when strategy = \"canary\", not "+strconv.Quote(d.Strategy.ValueString())+".")
	}
}

// appAttributePath maps a field of the library's app vocabulary
// ("health_check.type", "routes[0].host", "deployment.steps[1].weight") to
// the attribute it comes from under at; ok is false for a field that is
// not an app's.
func appAttributePath(at path.Path, field string) (p path.Path, ok bool) {
	head, rest, _ := strings.Cut(field, ".")
	name, index, indexed := strings.Cut(head, "[")
	i, _ := strconv.Atoi(strings.TrimSuffix(index, "]"))
	switch name {
	case "name", "command", "build", "instances", "memory_mb", "source":
		return at.AtName(name), true
	case "env", "secret_env":
		if rest != "" {
			return at.AtName(name).AtMapKey(rest), true
		}
		return at.AtName(name), true
	case "routes":
		// A route is "host/path" text here: a part of one is the route.
		if indexed {
			return at.AtName("routes").AtListIndex(i), true
		}
		return at.AtName("routes"), true
	case "health_check":
		if rest != "" {
			return at.AtName(name).AtName(rest), true
		}
		return at.AtName(name), true
	case "deployment":
		d := at.AtName("deployment")
		// The canary settings sit in their own block; a step is a weight
		// there, all steps with one watch.
		step, detail, _ := strings.Cut(rest, ".")
		steps, stepIndex, isStep := strings.Cut(step, "[")
		n, _ := strconv.Atoi(strings.TrimSuffix(stepIndex, "]"))
		switch {
		case rest == "":
			return d, true
		case rest == "max_error_rate" || rest == "min_requests":
			return d.AtName("canary").AtName(rest), true
		case steps == "steps" && detail == "watch":
			return d.AtName("canary").AtName("watch"), true
		case steps == "steps" && isStep:
			return d.AtName("canary").AtName("steps").AtListIndex(n), true
		case steps == "steps":
			return d.AtName("canary").AtName("steps"), true
		}
		return d.AtName(rest), true
	}
	return at, false
}

// notEmpty refuses an empty string where the library reads one as not
// set: leave the attribute out instead.
var notEmpty = stringvalidator.LengthAtLeast(1)

// attributePath maps a field of a cell's answer about an app to paved_app's attribute.
func attributePath(field string) (path.Path, bool) { return appAttributePath(path.Empty(), field) }

// skipped are the library's fields that a plan-time check leaves alone:
// their values are not known yet, or an attribute's own validator refuses
// them.
type skipped []string

func (s *skipped) add(field string) { *s = append(*s, field) }

// covers tells whether a problem at field, whose verdict depends on deps,
// is one to leave alone.
func (s skipped) covers(field string, deps []string) bool {
	for _, f := range append([]string{field}, deps...) {
		for _, x := range s {
			if f == x || strings.HasPrefix(f, x+".") || strings.HasPrefix(f, x+"[") {
				return true
			}
		}
	}
	return false
}

// specOf is the app's spec as configured or planned, and the fields to
// leave alone at plan (not known yet, or refused by their attribute's own
// validator, which leaves them out of the spec). The source is a path in
// the model: the caller sets the digest.
func (m *appSettingsModel) specOf(secretEnv types.Map) (paved.AppSpec, skipped) {
	var skip skipped
	str := func(v types.String, field string) string {
		if v.IsUnknown() {
			skip.add(field)
		}
		return v.ValueString()
	}
	num := func(v types.Int64, field string, def int) int {
		switch {
		case v.IsUnknown():
			skip.add(field)
		case v.IsNull():
			return def
		}
		return int(v.ValueInt64())
	}
	dur := func(v types.String, field string, positive bool) paved.Duration {
		if v.IsUnknown() || !v.IsNull() && paved.CheckDuration(v.ValueString(), positive) != nil {
			if field != "" {
				skip.add(field)
			}
			return 0
		}
		d, _ := time.ParseDuration(v.ValueString())
		return paved.Duration(d)
	}
	keys := func(v types.Map, field string) map[string]string {
		if v.IsUnknown() {
			skip.add(field)
		}
		if v.IsNull() || v.IsUnknown() {
			return nil
		}
		out := map[string]string{}
		for k, e := range v.Elements() {
			if e, ok := e.(types.String); ok {
				out[k] = e.ValueString() // "" while not known: the library judges the names
			}
		}
		return out
	}
	spec := paved.AppSpec{
		Name:      str(m.Name, "name"),
		Build:     m.Build.ValueString(),
		Command:   str(m.Command, "command"),
		Instances: num(m.Instances, "instances", 1),
		MemoryMB:  num(m.MemoryMB, "memory_mb", 0),
		Env:       keys(m.Env, "env"),
		SecretEnv: keys(secretEnv, "secret_env"),
	}
	for _, v := range texts(m.Routes) {
		if v == nil {
			skip.add("routes")
			break
		}
		spec.Routes = append(spec.Routes, paved.ParseRoute(*v))
	}
	if m.Routes.IsUnknown() {
		skip.add("routes")
	}
	if hc := m.HealthCheck; hc != nil {
		spec.HealthCheck = &paved.HealthCheck{
			Type: str(hc.Type, "health_check.type"), Path: str(hc.Path, "health_check.path"),
			Interval: dur(hc.Interval, "health_check.interval", true), Timeout: dur(hc.Timeout, "health_check.timeout", true),
			Grace: dur(hc.Grace, "health_check.grace", false),
		}
	}
	d := m.Deployment
	if d == nil {
		return spec, skip
	}
	out := &paved.DeploymentSpec{
		Strategy:       str(d.Strategy, "deployment.strategy"),
		MaxInFlight:    str(d.MaxInFlight, "deployment.max_in_flight"),
		MinHealthyTime: dur(d.MinHealthyTime, "deployment.min_healthy_time", false),
		DrainTimeout:   dur(d.DrainTimeout, "deployment.drain_timeout", false),
		KeepOld:        dur(d.KeepOld, "deployment.keep_old", false),
		AutoRollback:   d.AutoRollback.ValueBoolPointer(),
	}
	if !d.ProgressDeadline.IsNull() {
		if v := dur(d.ProgressDeadline, "deployment.progress_deadline", true); v > 0 {
			out.ProgressDeadline = &v
		}
	}
	if c := d.Canary; c != nil {
		watch := dur(c.Watch, "", true) // left out, it is no step's problem
		if c.Steps.IsUnknown() {
			skip.add("deployment.steps")
		}
		for _, w := range c.Steps.Elements() {
			n, ok := w.(types.Int64)
			if !ok || n.IsUnknown() {
				skip.add("deployment.steps")
				break
			}
			out.Steps = append(out.Steps, paved.CanaryStep{Weight: int(n.ValueInt64()), Watch: watch})
		}
		switch v := c.MaxErrorRate; {
		case v.IsUnknown():
			skip.add("deployment.max_error_rate")
		case !v.IsNull():
			out.MaxErrorRate = v.ValueFloat64Pointer()
		}
		// 0 is no value for the library: min_requests' validator refuses
		// what is under 1.
		if n := num(c.MinRequests, "deployment.min_requests", 0); n >= 1 {
			out.MinRequests = n
		}
	}
	spec.Deployment = out
	return spec, skip
}

// texts are a list of strings' elements, nil for one not known yet (and
// none for a list that is null or not known).
func texts(l types.List) []*string {
	var out []*string
	for _, v := range l.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() {
			out = append(out, nil)
			continue
		}
		out = append(out, s.ValueStringPointer())
	}
	return out
}
