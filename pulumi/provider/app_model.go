package provider

import (
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// spec maps the settings onto the library's AppSpec (secrets are added by
// the caller). Durations were checked by Check; a bad one here is an error
// all the same.
func (s AppSettings) spec(name, digest string) (paved.AppSpec, error) {
	spec := paved.AppSpec{
		Name:      name,
		Source:    digest,
		Build:     deref(s.Build),
		Command:   s.Command,
		Instances: 1,
		Env:       maps.Clone(s.Env),
		MemoryMB:  deref(s.MemoryMb),
	}
	if s.Instances != nil {
		spec.Instances = *s.Instances
	}
	for _, r := range s.Routes {
		spec.Routes = append(spec.Routes, paved.ParseRoute(r))
	}
	var errs durations
	if hc := s.HealthCheck; hc != nil {
		spec.HealthCheck = &paved.HealthCheck{Type: hc.Type, Path: deref(hc.Path),
			Interval: errs.parse("healthCheck.interval", hc.Interval), Timeout: errs.parse("healthCheck.timeout", hc.Timeout),
			Grace: errs.parse("healthCheck.grace", hc.Grace)}
	}
	if d := s.Deployment; d != nil {
		out := &paved.DeploymentSpec{
			Strategy:       deref(d.Strategy),
			MaxInFlight:    deref(d.MaxInFlight),
			MinHealthyTime: errs.parse("deployment.minHealthyTime", d.MinHealthyTime),
			DrainTimeout:   errs.parse("deployment.drainTimeout", d.DrainTimeout),
			KeepOld:        errs.parse("deployment.keepOld", d.KeepOld),
			AutoRollback:   d.AutoRollback,
		}
		if d.ProgressDeadline != nil {
			out.ProgressDeadline = ptr(errs.parse("deployment.progressDeadline", d.ProgressDeadline))
		}
		if c := d.Canary; c != nil {
			watch := errs.parse("deployment.canary.watch", c.Watch)
			out.Steps = paved.WeightSteps(c.Steps, watch)
			out.MaxErrorRate = c.MaxErrorRate
			out.MinRequests = deref(c.MinRequests)
		}
		spec.Deployment = out
	}
	return spec, errs.err()
}

type durations []string

func (e *durations) parse(field string, s *string) paved.Duration {
	if s == nil {
		return 0
	}
	d, err := time.ParseDuration(*s)
	if err != nil {
		*e = append(*e, field+": "+err.Error())
	}
	return paved.Duration(d)
}

func (e durations) err() error {
	if len(e) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(e, "; "))
}

// settingsFrom is the settings as the cell runs them: those that make a
// release from cfg (the release that runs), the rest from the app's spec.
// prior keeps the user's spelling of equivalent values ("1m" vs "1m0s")
// and "not set" for what the program leaves out, so an unchanged program
// previews no changes.
func settingsFrom(a *paved.App, cfg *paved.ReleaseConfig, prior AppSettings) AppSettings {
	s := AppSettings{
		Source:    prior.Source,
		Build:     stringOr(cfg.Build, prior.Build),
		Command:   cfg.Command,
		Instances: ptr(a.Instances),
		Env:       mapOr(cfg.Env, prior.Env),
		MemoryMb:  intOr(cfg.MemoryMB, prior.MemoryMb),
	}
	routes := make([]string, 0, len(a.Routes))
	for _, r := range a.Routes {
		routes = append(routes, r.String())
	}
	if len(routes) > 0 || prior.Routes != nil {
		s.Routes = routes
	}
	s.HealthCheck = healthFrom(cfg.HealthCheck, prior.HealthCheck)
	s.Deployment = deploymentFrom(a.Deployment, prior.Deployment)
	return s
}

func healthFrom(hc *paved.HealthCheck, prior *HealthCheck) *HealthCheck {
	if hc == nil {
		return nil
	}
	if prior == nil {
		prior = &HealthCheck{}
	}
	return &HealthCheck{
		Type:     hc.Type,
		Path:     stringOr(hc.Path, prior.Path),
		Interval: durationOr(hc.Interval, prior.Interval),
		Timeout:  durationOr(hc.Timeout, prior.Timeout),
		Grace:    durationOr(hc.Grace, prior.Grace),
	}
}

func deploymentFrom(d *paved.DeploymentSpec, prior *Deployment) *Deployment {
	if d == nil {
		return nil
	}
	if prior == nil {
		prior = &Deployment{}
	}
	out := &Deployment{
		Strategy:       stringOr(d.Strategy, prior.Strategy),
		MaxInFlight:    stringOr(d.MaxInFlight, prior.MaxInFlight),
		MinHealthyTime: durationOr(d.MinHealthyTime, prior.MinHealthyTime),
		DrainTimeout:   durationOr(d.DrainTimeout, prior.DrainTimeout),
		KeepOld:        durationOr(d.KeepOld, prior.KeepOld),
		AutoRollback:   d.AutoRollback,
	}
	if d.ProgressDeadline != nil {
		out.ProgressDeadline = durationOr(*d.ProgressDeadline, prior.ProgressDeadline)
	}
	if len(d.Steps) > 0 || d.MaxErrorRate != nil || d.MinRequests > 0 || prior.Canary != nil {
		pc := prior.Canary
		if pc == nil {
			pc = &Canary{}
		}
		c := &Canary{MaxErrorRate: d.MaxErrorRate, MinRequests: intOr(d.MinRequests, pc.MinRequests)}
		weights, watch := paved.StepWeights(d.Steps)
		c.Steps = weights
		if c.Steps == nil && pc.Steps != nil {
			c.Steps = []int{}
		}
		if len(d.Steps) > 0 {
			c.Watch = durationOr(watch, pc.Watch)
		}
		out.Canary = c
	}
	return out
}

// stringOr is s, or prior when s is empty and prior says the same.
func stringOr(s string, prior *string) *string {
	if s == "" && (prior == nil || *prior == "") {
		return prior
	}
	return &s
}

func intOr(n int, prior *int) *int {
	if n == 0 && (prior == nil || *prior == 0) {
		return prior
	}
	return &n
}

func mapOr(m map[string]string, prior map[string]string) map[string]string {
	if len(m) == 0 {
		if prior == nil {
			return nil
		}
		return map[string]string{}
	}
	return maps.Clone(m)
}

// durationOr renders a duration from the cell, keeping the prior spelling
// when it means the same.
func durationOr(d paved.Duration, prior *string) *string {
	if prior != nil {
		if p, err := time.ParseDuration(*prior); err == nil && p == d.D() {
			return prior
		}
	}
	if d == 0 && prior == nil {
		return nil
	}
	return ptr(d.D().String())
}

// changedSettings names the settings (as Pulumi properties) that differ.
// Nil and empty maps and lists are the same.
func changedSettings(want, have AppSettings) []string {
	var out []string
	add := func(name string, same bool) {
		if !same {
			out = append(out, name)
		}
	}
	add("build", deref(want.Build) == deref(have.Build))
	add("command", want.Command == have.Command)
	add("instances", instancesOf(want.Instances) == instancesOf(have.Instances))
	add("env", len(want.Env) == 0 && len(have.Env) == 0 || maps.Equal(want.Env, have.Env))
	add("memoryMb", deref(want.MemoryMb) == deref(have.MemoryMb))
	add("routes", len(want.Routes) == 0 && len(have.Routes) == 0 || reflect.DeepEqual(want.Routes, have.Routes))
	add("healthCheck", sameDurations(want.HealthCheck, have.HealthCheck))
	add("deployment", sameDurations(want.Deployment, have.Deployment))
	return out
}

func instancesOf(n *int) int {
	if n == nil {
		return 1
	}
	return *n
}

// sameDurations compares two blocks after parsing their durations, so
// "1m" and "60s" are the same setting.
func sameDurations(a, b any) bool {
	return reflect.DeepEqual(normalize(reflect.ValueOf(a)), normalize(reflect.ValueOf(b)))
}

func normalize(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return normalize(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		for i := range v.NumField() {
			if n := normalize(v.Field(i)); n != nil {
				out[v.Type().Field(i).Name] = n
			}
		}
		return out
	case reflect.String:
		if d, err := time.ParseDuration(v.String()); err == nil {
			return d
		}
		return v.String()
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		return fmt.Sprint(v.Interface())
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	}
	return v.Interface()
}
