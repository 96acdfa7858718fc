package paved

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	version "github.com/hashicorp/go-version"
)

// Validate checks a pipeline spec and returns every problem with its path.
// appExists, when not nil, says whether a deploy target exists. The cell,
// the CLI (`pipeline set`) and the Terraform provider all run it, so a bad
// pipeline is refused the same way everywhere.
func (p PipelineSpec) Validate(appExists func(string) bool) []FieldError {
	v := &pipelineValidator{spec: p, appExists: appExists, sources: map[string]SourceSpec{}, jobs: map[string]int{}}
	v.run()
	return v.errs
}

type pipelineValidator struct {
	spec      PipelineSpec
	appExists func(string) bool
	sources   map[string]SourceSpec
	jobs      map[string]int
	errs      []FieldError
}

func (v *pipelineValidator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *pipelineValidator) name(field, kind, name string) {
	if !isDNSLabel(name) {
		v.fail(field, "%s name %q must be 1 to 63 lowercase letters, digits and hyphens", kind, name)
	}
}

func (v *pipelineValidator) run() {
	v.name("name", "pipeline", v.spec.Name)
	if v.spec.Retain < 0 {
		v.fail("retain", "retain must not be negative")
	}
	for i, s := range v.spec.Sources {
		v.source(fmt.Sprintf("sources[%d]", i), s)
	}
	for i, j := range v.spec.Jobs {
		f := fmt.Sprintf("jobs[%d]", i)
		v.name(f+".name", "job", j.Name)
		if _, dup := v.jobs[j.Name]; dup {
			v.fail(f+".name", "job %q is defined twice", j.Name)
		}
		v.jobs[j.Name] = i
	}
	if len(v.spec.Jobs) == 0 {
		v.fail("jobs", "a pipeline needs at least one job")
	}
	for i, j := range v.spec.Jobs {
		v.job(fmt.Sprintf("jobs[%d]", i), j)
	}
	v.cycles()
	for _, src := range slices.Sorted(maps.Keys(v.spec.WebhookSecrets)) {
		f := "webhook_secrets." + src
		if _, ok := v.sources[src]; !ok {
			v.fail(f, "the pipeline has no source %q to set a webhook secret for", src)
			continue
		}
		if err := CheckWebhookSecret(v.spec.WebhookSecrets[src]); err != nil {
			v.fail(f, "%v", err)
		}
	}
}

func (v *pipelineValidator) source(f string, s SourceSpec) {
	v.name(f+".name", "source", s.Name)
	if _, dup := v.sources[s.Name]; dup {
		v.fail(f+".name", "source %q is defined twice", s.Name)
	}
	v.sources[s.Name] = s
	if s.CheckEvery < 0 {
		v.fail(f+".check_every", "check_every must not be negative")
	}
	switch s.Type {
	case SourceGit:
		if s.URI == "" {
			v.fail(f+".uri", "a git source needs a uri (a URL or a local path the git CLI can fetch)")
		}
	case SourceSemver:
		if s.Initial != "" {
			if _, err := version.NewSemver(s.Initial); err != nil {
				v.fail(f+".initial", "%q is not a semantic version", s.Initial)
			}
		}
	case SourceTime:
		if s.Interval <= 0 {
			v.fail(f+".interval", "a time source needs a positive interval, e.g. \"10m\"")
		}
	case SourceAppRelease:
		if s.App == "" {
			v.fail(f+".app", "an app_release source needs the app it watches")
		} else if v.appExists != nil && !v.appExists(s.App) {
			v.fail(f+".app", "app %q does not exist in the pipeline's space", s.App)
		}
	default:
		v.fail(f+".type", "unknown source type %q: use git, semver, time or app_release", s.Type)
	}
}

func (v *pipelineValidator) job(f string, j JobSpec) {
	if len(j.Plan) == 0 {
		v.fail(f+".plan", "job %q has no steps", j.Name)
	}
	if j.MaxInFlight < 0 {
		v.fail(f+".max_in_flight", "max_in_flight must not be negative")
	}
	if j.Serial && j.MaxInFlight > 1 {
		v.fail(f+".max_in_flight", "a serial job runs one build at a time; drop max_in_flight or serial")
	}
	dirs := &dirSet{has: map[string]bool{}}
	for i, s := range j.Plan {
		v.step(fmt.Sprintf("%s.plan[%d]", f, i), j.Name, s, dirs)
	}
	v.hooks(f, j.Name, j.OnSuccess, j.OnFailure, j.Ensure, dirs)
}

// dirSet is the set of directories the steps so far make. Hooks add to it
// and then take their additions back (undo), rather than each working on a
// copy: copying made validation quadratic, so that one request body of
// many outputs and many hooks kept a cell's CPU busy for seconds.
type dirSet struct {
	has   map[string]bool
	added []string // in the order added, for undo
}

func (d *dirSet) add(name string) {
	if !d.has[name] {
		d.has[name] = true
		d.added = append(d.added, name)
	}
}

// undo removes what was added since mark (a len(d.added) taken before).
func (d *dirSet) undo(mark int) {
	for _, name := range d.added[mark:] {
		delete(d.has, name)
	}
	d.added = d.added[:mark]
}

// hooks checks hooks in a fixed order, each seeing the directories of the
// steps before it but not those of the other hooks (only one of on_success
// and on_failure runs).
func (v *pipelineValidator) hooks(f, job string, onSuccess, onFailure, ensure *Step, dirs *dirSet) {
	for _, h := range []struct {
		name string
		step *Step
	}{{"on_success", onSuccess}, {"on_failure", onFailure}, {"ensure", ensure}} {
		if h.step != nil {
			mark := len(dirs.added)
			v.step(f+"."+h.name, job, *h.step, dirs)
			dirs.undo(mark)
		}
	}
}

// step checks one step; dirs collects the directories earlier steps make.
func (v *pipelineValidator) step(f, job string, s Step, dirs *dirSet) {
	kinds := 0
	for _, set := range []bool{s.Get != "", s.Task != "", s.Deploy != "", s.Assert != "", s.Put != "", s.Environment != "", len(s.InParallel) > 0, s.Try != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		v.fail(f, "a step does exactly one of get, task, deploy, assert, put, environment, in_parallel or try (this one does %d)", kinds)
		return
	}
	switch s.Kind() {
	case "get":
		src, ok := v.sources[s.Get]
		if !ok {
			v.fail(f+".get", "get of unknown source %q", s.Get)
		}
		for i, p := range s.Passed {
			if _, ok := v.jobs[p]; !ok {
				v.fail(fmt.Sprintf("%s.passed[%d]", f, i), "passed names unknown job %q", p)
			} else if p == job {
				v.fail(fmt.Sprintf("%s.passed[%d]", f, i), "job %q cannot require itself to have passed", p)
			}
		}
		if s.Version != "" && s.Version != "latest" && s.Version != "every" && ok && src.Type == SourceSemver {
			if _, err := version.NewSemver(s.Version); err != nil {
				v.fail(f+".version", "version is latest, every or a pinned version; %q is not a semantic version", s.Version)
			}
		}
		dirs.add(s.Get)
	case "task":
		if strings.TrimSpace(s.Run) == "" {
			v.fail(f+".run", "task %q needs a command to run", s.Task)
		}
		if s.Attempts < 0 {
			v.fail(f+".attempts", "attempts must be at least 1")
		}
		if s.Timeout < 0 {
			v.fail(f+".timeout", "timeout must not be negative")
		}
		for i, in := range s.Inputs {
			if !dirs.has[in] {
				v.fail(fmt.Sprintf("%s.inputs[%d]", f, i), "input %q is not made by an earlier get or task output", in)
			}
		}
		for _, o := range s.Outputs {
			dirs.add(o)
		}
	case "deploy":
		if v.appExists != nil && !v.appExists(s.Deploy) {
			v.fail(f+".deploy", "deploy to unknown app %q: it must exist in the pipeline's space", s.Deploy)
		}
		if s.From == "" {
			v.fail(f+".from", "deploy needs from: the directory (a get or a task output) to push")
		} else if !dirs.has[s.From] {
			v.fail(f+".from", "from %q is not made by an earlier get or task output", s.From)
		}
	case "assert":
		checks := 0
		for _, set := range []bool{s.HTTP != nil, s.Command != "", s.Backup != nil} {
			if set {
				checks++
			}
		}
		if checks != 1 {
			v.fail(f, "assert %q needs exactly one of http, command or backup", s.Assert)
		}
		if s.Backup != nil && (s.Backup.Path == "" || s.Backup.App == "") {
			v.fail(f+".backup", "a backup assert needs the path that holds backups and the app whose release they must be newer than")
		}
		if s.HTTP != nil && s.HTTP.URL == "" {
			v.fail(f+".http.url", "an http assert needs a url")
		}
	case "put":
		src, ok := v.sources[s.Put]
		switch {
		case !ok:
			v.fail(f+".put", "put to unknown source %q", s.Put)
		case src.Type != SourceSemver:
			v.fail(f+".put", "put only bumps semver sources; %q is a %s source", s.Put, src.Type)
		}
		if s.Bump != "major" && s.Bump != "minor" && s.Bump != "patch" {
			v.fail(f+".bump", "bump is major, minor or patch, not %q", s.Bump)
		}
	case "environment":
		v.name(f+".environment", "environment", s.Environment)
		if s.FromSpace == "" {
			v.fail(f+".from_space", "an environment step needs from_space: the space it clones")
		}
		if s.TTL.D() < MinEnvironmentTTL || s.TTL.D() > MaxEnvironmentTTL {
			v.fail(f+".ttl", "an environment step needs a ttl between 1s and 720h, e.g. \"30m\"")
		}
		if (s.App == "") != (s.Source == "") {
			v.fail(f+".app", "app and source go together: the app of the cloned space that runs the directory source")
		}
		if s.Source != "" && !dirs.has[s.Source] {
			v.fail(f+".source", "source %q is not made by an earlier get or task output", s.Source)
		}
	case "in_parallel":
		for i, sub := range s.InParallel {
			v.step(fmt.Sprintf("%s.in_parallel[%d]", f, i), job, sub, dirs)
		}
	case "try":
		v.step(f+".try", job, *s.Try, dirs)
	}
	v.hooks(f, job, s.OnSuccess, s.OnFailure, s.Ensure, dirs)
}

// cycles refuses passed constraints that form a loop (A needs B, B needs A).
func (v *pipelineValidator) cycles() {
	deps := map[string][]string{}
	for _, j := range v.spec.Jobs {
		for _, g := range Gets(j.Plan) {
			deps[j.Name] = append(deps[j.Name], g.Passed...)
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(string, []string) bool
	visit = func(n string, trail []string) bool {
		switch state[n] {
		case visiting:
			v.fail(fmt.Sprintf("jobs[%d]", v.jobs[n]), "passed constraints form a cycle: %s", strings.Join(append(trail, n), " → "))
			return true
		case done:
			return false
		}
		state[n] = visiting
		for _, d := range deps[n] {
			if _, ok := v.jobs[d]; ok && d != n && visit(d, append(trail, n)) {
				return true
			}
		}
		state[n] = done
		return false
	}
	for _, j := range v.spec.Jobs {
		if visit(j.Name, nil) {
			return
		}
	}
}

// Gets lists every get of a plan, inside in_parallel and try too: the
// gets the scheduler sees.
func Gets(plan []Step) []Step {
	var out []Step
	var walk func(Step)
	walk = func(s Step) {
		switch {
		case s.Get != "":
			out = append(out, s)
		case len(s.InParallel) > 0:
			for _, sub := range s.InParallel {
				walk(sub)
			}
		case s.Try != nil:
			walk(*s.Try)
		}
	}
	for _, s := range plan {
		walk(s)
	}
	return out
}
