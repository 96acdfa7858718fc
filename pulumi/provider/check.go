package provider

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// checker gathers Check failures: the property path in Pulumi's terms and
// one sentence, from paved's rules (the rules the Terraform provider
// applies at plan), never a second copy of them.
type checker struct{ list []failure }

// failure is a Check failure and the other properties it depends on
// (a canary block is wrong only for a known strategy).
type failure struct {
	p.CheckFailure
	deps []string
}

func (c *checker) add(path, reason string, deps ...string) {
	for _, f := range c.list {
		if f.Property == path {
			return // one failure per property is enough
		}
	}
	c.list = append(c.list, failure{p.CheckFailure{Property: path, Reason: reason}, deps})
}

func (c *checker) name(path, v string) {
	if err := paved.CheckName(v); err != nil {
		c.add(path, err.Error())
	}
}

func (c *checker) duration(path string, v *string, positive bool) {
	if v == nil {
		return
	}
	if err := paved.CheckDuration(*v, positive); err != nil {
		c.add(path, err.Error())
	}
}

// settings checks an app's name, settings and secret environment; prefix
// is where they sit ("" for App).
func (c *checker) settings(prefix, name string, s AppSettings, secretEnv map[string]string) {
	c.settingsAt(prefix, prefix, name, s, secretEnv)
}

// settingsAt is settings with the secret environment elsewhere: a
// ReplicaSet's app settings sit under "app.", its secretEnv at the top.
func (c *checker) settingsAt(prefix, secretPrefix, name string, s AppSettings, secretEnv map[string]string) {
	// What users write as text, checked where it is parsed.
	if s.Source != nil {
		if fi, err := os.Stat(*s.Source); err != nil {
			c.add(prefix+"source", fmt.Sprintf("cannot read the source: %v", err))
		} else if !fi.IsDir() && !paved.IsArchivePath(*s.Source) {
			c.add(prefix+"source", fmt.Sprintf("source %q must be a directory, a .tar.gz or a .zip archive", *s.Source))
		}
	}
	if s.Build != nil && *s.Build == "" {
		c.add(prefix+"build", "build must not be empty: leave it out when there is nothing to build")
	}
	for i, r := range s.Routes {
		if err := paved.CheckRoute(r); err != nil {
			c.add(fmt.Sprintf("%sroutes[%d]", prefix, i), err.Error())
		}
	}
	if hc := s.HealthCheck; hc != nil {
		c.duration(prefix+"healthCheck.interval", hc.Interval, true)
		c.duration(prefix+"healthCheck.timeout", hc.Timeout, true)
		c.duration(prefix+"healthCheck.grace", hc.Grace, false)
	}
	if d := s.Deployment; d != nil {
		c.duration(prefix+"deployment.minHealthyTime", d.MinHealthyTime, false)
		c.duration(prefix+"deployment.progressDeadline", d.ProgressDeadline, true)
		c.duration(prefix+"deployment.drainTimeout", d.DrainTimeout, false)
		c.duration(prefix+"deployment.keepOld", d.KeepOld, false)
		if cn := d.Canary; cn != nil {
			c.duration(prefix+"deployment.canary.watch", cn.Watch, true)
			if cn.Steps != nil && len(cn.Steps) == 0 {
				c.add(prefix+"deployment.canary.steps", "a canary needs at least one step, e.g. [10, 50]")
			}
			// Here a step is only its weight, so a zero is a bad weight (the
			// library, where a step may be a count, says it is no step).
			for i, w := range cn.Steps {
				if w < 1 || w > 100 {
					c.add(fmt.Sprintf("%sdeployment.canary.steps[%d]", prefix, i), fmt.Sprintf("weight is a percentage of traffic between 1 and 100, not %d", w))
				}
			}
			if cn.MinRequests != nil && *cn.MinRequests < 1 {
				c.add(prefix+"deployment.canary.minRequests", fmt.Sprintf("min_requests must be at least 1, not %d", *cn.MinRequests))
			}
			if deref(d.Strategy) != paved.StrategyCanary {
				c.add(prefix+"deployment.canary", fmt.Sprintf("canary settings only apply when strategy = \"canary\", not %q", deref(d.Strategy)),
					prefix+"deployment.strategy")
			}
		}
	}
	// The spec as the library sees it.
	spec, _ := s.spec(name, "") // bad durations were reported above
	spec.SecretEnv = secretEnv
	for _, e := range spec.Validate() {
		var deps []string
		for _, dep := range paved.AppFieldDependencies(e.Field) {
			deps = append(deps, prefix+pulumiPath(dep))
		}
		at := prefix
		if strings.HasPrefix(e.Field, "secret_env.") {
			at = secretPrefix
		}
		c.add(at+pulumiPath(e.Field), e.Message, deps...)
	}
}

// failures drops what is about values not known yet (outputs of other
// resources during a preview: they decode as zero values) and returns the
// rest.
func (c *checker) failures(inputs property.Map) []p.CheckFailure {
	var out []p.CheckFailure
	for _, f := range c.list {
		unknown := unknownAlong(inputs, f.Property)
		for _, d := range f.deps {
			unknown = unknown || unknownAlong(inputs, d)
		}
		if !unknown {
			out = append(out, f.CheckFailure)
		}
	}
	return out
}

// unknownAlong tells whether any value on the way to path is unknown.
func unknownAlong(inputs property.Map, path string) bool {
	v := property.New(inputs)
	for _, seg := range pathSegments(path) {
		if v.IsComputed() {
			return true
		}
		switch {
		case v.IsMap():
			v = v.AsMap().Get(seg)
		case v.IsArray():
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= v.AsArray().Len() {
				return false
			}
			v = v.AsArray().Get(i)
		default:
			return false
		}
	}
	return v.HasComputed()
}

// pathSegments splits a property path: a.b[0]["K"] → a, b, 0, K.
func pathSegments(path string) []string {
	var segs []string
	for path != "" {
		switch {
		case strings.HasPrefix(path, `["`):
			end := strings.Index(path, `"]`)
			if end < 0 {
				return append(segs, path)
			}
			segs = append(segs, path[2:end])
			path = path[end+2:]
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(segs, path)
			}
			segs = append(segs, path[1:end])
			path = path[end+1:]
		case path[0] == '.':
			path = path[1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segs = append(segs, path[:end])
			path = path[end:]
		}
	}
	return segs
}

var (
	identRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	canaryMap = []struct {
		re   *regexp.Regexp
		repl string
	}{
		{regexp.MustCompile(`^deployment\.steps$`), "deployment.canary"},
		{regexp.MustCompile(`^deployment\.steps\[\d+\]\.watch$`), "deployment.canary.watch"},
		{regexp.MustCompile(`^deployment\.steps(\[\d+\])(\.\w+)?$`), "deployment.canary.steps$1"},
		{regexp.MustCompile(`^deployment\.(max_error_rate|min_requests)$`), "deployment.canary.$1"},
		// Routes are "host/path" strings here: a part of one is the route.
		{regexp.MustCompile(`^routes(\[\d+\])\.(host|path)$`), "routes$1"},
	}
)

// pulumiPath turns a field of paved's JSON vocabulary
// ("deployment.max_in_flight", "env.PORT", "overrides.web.env.A-B") into
// the property path of the Pulumi schema ("deployment.maxInFlight",
// "env.PORT", `overrides.web.env["A-B"]`): the canary settings sit in
// their own block, as in Terraform.
func pulumiPath(field string) string {
	if rest, ok := strings.CutPrefix(field, "overrides."); ok {
		app, sub, _ := strings.Cut(rest, ".")
		if sub == "" {
			return "overrides" + mapKey(app)
		}
		return "overrides" + mapKey(app) + "." + pulumiPath(sub)
	}
	for _, m := range []string{"secret_env", "env"} {
		if key, ok := strings.CutPrefix(field, m+"."); ok {
			return camel(m) + mapKey(key)
		}
	}
	for _, m := range canaryMap {
		if m.re.MatchString(field) {
			field = m.re.ReplaceAllString(field, m.repl)
			break
		}
	}
	segs := strings.Split(field, ".")
	for i, s := range segs {
		segs[i] = camel(s)
	}
	return strings.Join(segs, ".")
}

// camel turns snake_case into camelCase ("memory_mb" → "memoryMb").
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// secretInputs are, per resource type, the secret inputs that are never
// outputs (never returned by the cell).
var secretInputs = map[string]string{
	Name + ":index:App":        "secretEnv",
	Name + ":index:ReplicaSet": "secretEnv",
	Name + ":index:Pipeline":   "webhookSecrets",
	// A user-provided service's credentials.
	Name + ":index:UserProvidedService": "credentials",
}

// diffSecretInputs adds the secret inputs' changes to a diff: they are not
// in the outputs (never returned), so they are compared with the inputs
// the engine recorded.
func diffSecretInputs(req p.DiffRequest, resp p.DiffResponse) p.DiffResponse {
	key, ok := secretInputs[string(req.Urn.Type())]
	if !ok {
		return resp
	}
	if _, ok := resp.DetailedDiff[key]; ok {
		return resp
	}
	old, oldKnown := stringMapOf(req.OldInputs.Get(key))
	cur, curKnown := stringMapOf(req.Inputs.Get(key))
	if oldKnown && curKnown && equalMaps(old, cur) {
		return resp
	}
	if resp.DetailedDiff == nil {
		resp.DetailedDiff = map[string]p.PropertyDiff{}
	}
	resp.DetailedDiff[key] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	resp.HasChanges = true
	return resp
}

// stringMapOf reads a map of strings, secret or not; known is false when
// any of it is unknown.
func stringMapOf(v property.Value) (m map[string]string, known bool) {
	if v.HasComputed() {
		return nil, false
	}
	if !v.IsMap() {
		return nil, true
	}
	m = map[string]string{}
	for k, e := range v.AsMap().All {
		if e.IsString() {
			m[k] = e.AsString()
		}
	}
	return m, true
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
