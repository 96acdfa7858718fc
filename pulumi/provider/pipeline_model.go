package provider

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// spec maps the inputs onto the library's PipelineSpec. A bad duration is
// an error (Check reports it at its property first) and is sent as zero.
func (a PipelineSettings) spec() (paved.PipelineSpec, error) {
	var errs durations
	spec := paved.PipelineSpec{Name: a.Name, Paused: deref(a.Paused), Retain: deref(a.Retain),
		Sources: []paved.SourceSpec{}, Jobs: []paved.JobSpec{}}
	for i, s := range a.Sources {
		at := fmt.Sprintf("sources[%d].", i)
		spec.Sources = append(spec.Sources, paved.SourceSpec{
			Name: s.Name, Type: s.Type, CheckEvery: errs.parse(at+"checkEvery", s.CheckEvery),
			URI: deref(s.Uri), Branch: deref(s.Branch), Paths: slices.Clone(s.Paths),
			Initial: deref(s.Initial), Interval: errs.parse(at+"interval", s.Interval),
			App: deref(s.App), Gate: deref(s.Gate),
		})
	}
	for i, j := range a.Jobs {
		at := fmt.Sprintf("jobs[%d].", i)
		job := paved.JobSpec{Name: j.Name, Serial: deref(j.Serial), MaxInFlight: deref(j.MaxInFlight), Plan: []paved.Step{}}
		for k, s := range j.Steps {
			job.Plan = append(job.Plan, s.step(fmt.Sprintf("%ssteps[%d].", at, k), &errs))
		}
		job.OnSuccess = hookSpec(at+"onSuccess.", j.OnSuccess, &errs)
		job.OnFailure = hookSpec(at+"onFailure.", j.OnFailure, &errs)
		job.Ensure = hookSpec(at+"ensure.", j.Ensure, &errs)
		spec.Jobs = append(spec.Jobs, job)
	}
	return spec, errs.err()
}

func hookSpec(at string, s *PipelineStep, errs *durations) *paved.Step {
	if s == nil {
		return nil
	}
	st := s.step(at, errs)
	return &st
}

// step maps one step, its nested steps and hooks; at is its property path
// with a trailing dot (for duration errors).
func (s PipelineStep) step(at string, errs *durations) paved.Step {
	st := paved.Step{
		Get: deref(s.Get), Trigger: deref(s.Trigger), Passed: slices.Clone(s.Passed), Version: deref(s.Version),
		Task: deref(s.Task), Run: deref(s.Run), Dir: deref(s.Dir), Env: maps.Clone(s.Env),
		Inputs: slices.Clone(s.Inputs), Outputs: slices.Clone(s.Outputs), Timeout: errs.parse(at+"timeout", s.Timeout),
		Attempts: deref(s.Attempts),
		Deploy:   deref(s.Deploy), From: deref(s.From),
		Assert: deref(s.Assert), Command: deref(s.Command),
		Environment: deref(s.Environment), FromSpace: deref(s.FromSpace), App: deref(s.App), Source: deref(s.Source),
		TTL: errs.parse(at+"ttl", s.Ttl),
		Put: deref(s.Put), Bump: deref(s.Bump),
	}
	if h := s.Http; h != nil {
		st.HTTP = &paved.HTTPAssert{URL: h.Url, Host: deref(h.Host), Status: deref(h.Status), Contains: deref(h.Contains),
			MaxLatency: errs.parse(at+"http.maxLatency", h.MaxLatency)}
	}
	if b := s.Backup; b != nil {
		st.Backup = &paved.BackupAssert{Path: b.Path, App: b.App}
	}
	for i, sub := range s.InParallel {
		st.InParallel = append(st.InParallel, sub.step(fmt.Sprintf("%sinParallel[%d].", at, i), errs))
	}
	st.Try = hookSpec(at+"try.", s.Try, errs)
	st.OnSuccess = hookSpec(at+"onSuccess.", s.OnSuccess, errs)
	st.OnFailure = hookSpec(at+"onFailure.", s.OnFailure, errs)
	st.Ensure = hookSpec(at+"ensure.", s.Ensure, errs)
	return st
}

// pipelineState is the pipeline as the cell has it. prior (the inputs or
// the last state) keeps "not set" for what the program leaves out and the
// user's spelling of durations, so an unchanged program previews no
// changes and a refresh shows only real drift.
func pipelineState(p *paved.Pipeline, prior PipelineSettings) PipelineState {
	st := PipelineState{PipelineSettings: PipelineSettings{
		Space: p.Space, Name: p.Name, Paused: boolOr(p.Paused, prior.Paused), Retain: intOr(p.Retain, prior.Retain),
		Sources: []PipelineSource{}, Jobs: []PipelineJob{},
	}, WebhookPaths: map[string]string{}}
	for i, s := range p.Sources {
		var ps PipelineSource
		if i < len(prior.Sources) {
			ps = prior.Sources[i]
		}
		st.Sources = append(st.Sources, PipelineSource{
			Name: s.Name, Type: s.Type, CheckEvery: durationOr(s.CheckEvery, ps.CheckEvery),
			Uri: stringOr(s.URI, ps.Uri), Branch: stringOr(s.Branch, ps.Branch), Paths: listOr(s.Paths, ps.Paths),
			Initial: stringOr(s.Initial, ps.Initial), Interval: durationOr(s.Interval, ps.Interval),
			App: stringOr(s.App, ps.App), Gate: boolOr(s.Gate, ps.Gate),
		})
	}
	for i, j := range p.Jobs {
		var pj PipelineJob
		if i < len(prior.Jobs) {
			pj = prior.Jobs[i]
		}
		job := PipelineJob{Name: j.Name, Serial: boolOr(j.Serial, pj.Serial), MaxInFlight: intOr(j.MaxInFlight, pj.MaxInFlight),
			Steps: []PipelineStep{}}
		for k, s := range j.Plan {
			var ps PipelineStep
			if k < len(pj.Steps) {
				ps = pj.Steps[k]
			}
			job.Steps = append(job.Steps, stepFrom(s, ps))
		}
		job.OnSuccess, job.OnFailure, job.Ensure = hookFrom(j.OnSuccess, pj.OnSuccess), hookFrom(j.OnFailure, pj.OnFailure), hookFrom(j.Ensure, pj.Ensure)
		st.Jobs = append(st.Jobs, job)
	}
	for src, h := range p.Webhooks {
		st.WebhookPaths[src] = h.Path // a generated secret (h.Token) is not kept
	}
	return st
}

func hookFrom(s *paved.Step, prior *PipelineStep) *PipelineStep {
	if s == nil {
		return nil
	}
	if prior == nil {
		prior = &PipelineStep{}
	}
	return ptr(stepFrom(*s, *prior))
}

func stepFrom(s paved.Step, p PipelineStep) PipelineStep {
	out := PipelineStep{
		Get: stringOr(s.Get, p.Get), Trigger: boolOr(s.Trigger, p.Trigger), Passed: listOr(s.Passed, p.Passed),
		Version: stringOr(s.Version, p.Version),
		Task:    stringOr(s.Task, p.Task), Run: stringOr(s.Run, p.Run), Dir: stringOr(s.Dir, p.Dir), Env: mapOr(s.Env, p.Env),
		Inputs: listOr(s.Inputs, p.Inputs), Outputs: listOr(s.Outputs, p.Outputs), Timeout: durationOr(s.Timeout, p.Timeout),
		Attempts: intOr(s.Attempts, p.Attempts),
		Deploy:   stringOr(s.Deploy, p.Deploy), From: stringOr(s.From, p.From),
		Assert: stringOr(s.Assert, p.Assert), Command: stringOr(s.Command, p.Command),
		Environment: stringOr(s.Environment, p.Environment), FromSpace: stringOr(s.FromSpace, p.FromSpace),
		App: stringOr(s.App, p.App), Source: stringOr(s.Source, p.Source), Ttl: durationOr(s.TTL, p.Ttl),
		Put: stringOr(s.Put, p.Put), Bump: stringOr(s.Bump, p.Bump),
	}
	if h := s.HTTP; h != nil {
		ph := p.Http
		if ph == nil {
			ph = &PipelineHttpAssert{}
		}
		out.Http = &PipelineHttpAssert{Url: h.URL, Host: stringOr(h.Host, ph.Host), Status: intOr(h.Status, ph.Status),
			Contains: stringOr(h.Contains, ph.Contains), MaxLatency: durationOr(h.MaxLatency, ph.MaxLatency)}
	}
	if b := s.Backup; b != nil {
		out.Backup = &PipelineBackupAssert{Path: b.Path, App: b.App}
	}
	for i, sub := range s.InParallel {
		var ps PipelineStep
		if i < len(p.InParallel) {
			ps = p.InParallel[i]
		}
		out.InParallel = append(out.InParallel, stepFrom(sub, ps))
	}
	if out.InParallel == nil && p.InParallel != nil {
		out.InParallel = []PipelineStep{}
	}
	out.Try = hookFrom(s.Try, p.Try)
	out.OnSuccess, out.OnFailure, out.Ensure = hookFrom(s.OnSuccess, p.OnSuccess), hookFrom(s.OnFailure, p.OnFailure), hookFrom(s.Ensure, p.Ensure)
	return out
}

// boolOr is v, or prior when v is false and prior says the same.
func boolOr(v bool, prior *bool) *bool {
	if !v && (prior == nil || !*prior) {
		return prior
	}
	return &v
}

// listOr is v, keeping the program's nil or empty list when v is empty.
func listOr(v, prior []string) []string {
	if len(v) == 0 {
		if prior == nil {
			return nil
		}
		return []string{}
	}
	return slices.Clone(v)
}

// changedPipeline names the properties (as Pulumi paths) whose meaning
// differs: durations compare by value, a list or map left out is an empty
// one, and a source or job is compared as a whole ("sources[1]",
// "jobs[0]"), or the list when their number changed.
func changedPipeline(want, have PipelineSettings) []string {
	var out []string
	if deref(want.Paused) != deref(have.Paused) {
		out = append(out, "paused")
	}
	if deref(want.Retain) != deref(have.Retain) {
		out = append(out, "retain")
	}
	w, _ := want.spec()
	h, _ := have.spec()
	out = append(out, changedItems("sources", w.Sources, h.Sources)...)
	out = append(out, changedItems("jobs", w.Jobs, h.Jobs)...)
	return out
}

func changedItems[T any](name string, want, have []T) []string {
	if len(want) != len(have) {
		return []string{name}
	}
	var out []string
	for i := range want {
		if !sameJSON(want[i], have[i]) {
			out = append(out, fmt.Sprintf("%s[%d]", name, i))
		}
	}
	return out
}

// sameJSON compares two values as the cell would receive them.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// pipelinePath turns a path of paved's pipeline validation
// ("jobs[1].plan[0].passed[0]", "sources[0].check_every") into the
// property path of the Pulumi schema ("jobs[1].steps[0].passed[0]",
// "sources[0].checkEvery").
func pipelinePath(field string) string {
	parts := strings.Split(field, ".")
	for i, part := range parts {
		name, index, _ := strings.Cut(part, "[")
		if name == "plan" {
			name = "steps"
		}
		parts[i] = camel(name)
		if index != "" {
			parts[i] += "[" + index
		}
	}
	return strings.Join(parts, ".")
}

var (
	refersToSource = regexp.MustCompile(`\.(get|put|version)$`)
	refersToJob    = regexp.MustCompile(`\.passed\[\d+\]$`)
	refersToDir    = regexp.MustCompile(`\.(inputs\[\d+\]|from|source)$`)
	jobOf          = regexp.MustCompile(`^jobs\[\d+\]`)
)

// pipelineDeps are the properties a pipeline failure's verdict depends on
// besides its own (a get is wrong only for a known list of sources), so a
// preview with values not known yet does not fail on them.
func pipelineDeps(path string, a PipelineSettings) []string {
	var deps []string
	switch {
	case refersToSource.MatchString(path):
		if len(a.Sources) == 0 {
			deps = append(deps, "sources") // the whole list may be unknown
		}
		for i := range a.Sources {
			deps = append(deps, fmt.Sprintf("sources[%d].name", i), fmt.Sprintf("sources[%d].type", i))
		}
	case refersToJob.MatchString(path):
		for i := range a.Jobs {
			deps = append(deps, fmt.Sprintf("jobs[%d].name", i))
		}
	case refersToDir.MatchString(path):
		// The directories come from the job's earlier gets and outputs.
		deps = append(deps, jobOf.FindString(path))
	}
	return deps
}

// pipelineDurations reports the durations of a pipeline that do not parse,
// at their property paths.
func (c *checker) pipelineDurations(a PipelineSettings) {
	for i, s := range a.Sources {
		at := fmt.Sprintf("sources[%d].", i)
		c.duration(at+"checkEvery", s.CheckEvery, false)
		c.duration(at+"interval", s.Interval, false)
	}
	var step func(at string, s *PipelineStep)
	step = func(at string, s *PipelineStep) {
		if s == nil {
			return
		}
		c.duration(at+".timeout", s.Timeout, false)
		c.duration(at+".ttl", s.Ttl, false)
		if s.Http != nil {
			c.duration(at+".http.maxLatency", s.Http.MaxLatency, false)
		}
		for i := range s.InParallel {
			step(fmt.Sprintf("%s.inParallel[%d]", at, i), &s.InParallel[i])
		}
		step(at+".try", s.Try)
		step(at+".onSuccess", s.OnSuccess)
		step(at+".onFailure", s.OnFailure)
		step(at+".ensure", s.Ensure)
	}
	for i, j := range a.Jobs {
		at := fmt.Sprintf("jobs[%d]", i)
		for k := range j.Steps {
			step(fmt.Sprintf("%s.steps[%d]", at, k), &j.Steps[k])
		}
		step(at+".onSuccess", j.OnSuccess)
		step(at+".onFailure", j.OnFailure)
		step(at+".ensure", j.Ensure)
	}
}
