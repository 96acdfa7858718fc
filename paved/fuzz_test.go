package paved_test

// Fuzz target for the pipeline model's validator. Run it with
// scripts/fuzz.sh or `make fuzz`; `go test` runs its seed corpus (f.Add
// below and testdata/fuzz/) as ordinary tests. The YAML side is fuzzed
// where it is parsed, in internal/cli (FuzzParsePipeline). The Terraform
// side (paved_pipeline) is the provider's schema, which Terraform decodes
// before the provider sees a value, and which then goes through this same
// Validate: there is nothing of our own to fuzz there.

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/specequal"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// FuzzPipelineValidate decodes arbitrary JSON into a PipelineSpec and
// validates it. Invariants: Validate never panics, is deterministic and
// leaves the spec alone; every FieldError has a message and a field that is
// a well-formed JSON path naming a real field of the spec, with indices in
// range; the errors without an appExists check are a subset of those with
// one; and a spec that validates round-trips through JSON (strictly
// decoded) unchanged and still validates.
func FuzzPipelineValidate(f *testing.F) {
	good, err := json.Marshal(goodPipeline())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(good),
		`{"name":"p","jobs":[{"name":"j","plan":[{"task":"t","run":"true"}]}]}`,
		`{"name":"p","jobs":[{"name":"a","plan":[{"get":"s","passed":["b"]}]},{"name":"b","plan":[{"in_parallel":[{"try":{"get":"s","passed":["a"]}}]}]}],"sources":[{"name":"s","type":"semver"}]}`,
		`{"name":"p","jobs":[{"name":"j","plan":[{"get":"s","version":"every"},{"task":"t","run":"x","inputs":["s","nope"],"outputs":["o"]},{"deploy":"web","from":"o"},{"put":"s","bump":"minor"}],"ensure":{"task":"c","run":"true","inputs":["o"]}}],"sources":[{"name":"s","type":"semver","initial":"not-a-version"}]}`,
		`{"name":"p","jobs":[{"name":"j","plan":[{"environment":"preview","from_space":"prod","app":"web","source":"s","ttl":"30m"},{"assert":"a","http":{"url":"env:web/","max_latency":"1s"}},{"assert":"b","backup":{"path":"/var/backups","app":"web"}}]}],"sources":[{"name":"s","type":"git","uri":"/src"}]}`,
		`{"name":"p","jobs":[{"name":"j","serial":true,"max_in_flight":3,"plan":[{}]},{"name":"j","plan":[{"get":"x","task":"y"}]}],"sources":[{"name":"t","type":"time"},{"name":"t","type":"cron"}]}`,
		`{"name":"P!","retain":-1,"jobs":[]}`,
		`{"name":"p","jobs":[{"name":"j","plan":[{"try":{"try":{"try":{"in_parallel":[{"task":"t","run":"x","on_success":{"task":"u","run":"y","inputs":["nope"]}}]}}}}]}]}`,
		`{"name":"p","sources":[{"name":"r","type":"app_release","app":"ghost","gate":true,"check_every":-5}],"jobs":[{"name":"j","plan":[{"get":"r","passed":["j"]}]}]}`,
		`{}`,
		`null`,
	} {
		for _, apps := range []uint8{0, 1, 2} {
			f.Add([]byte(s), apps)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, apps uint8) {
		// JSON input is decoded; anything else drives a generator, so that
		// every mutation is a pipeline (mutated JSON is mostly not JSON).
		var spec paved.PipelineSpec
		if json.Unmarshal(data, &spec) != nil {
			spec = (&specGen{b: data}).pipeline()
		}
		exists := appExists(apps)
		before, _ := json.Marshal(spec)
		errs := spec.Validate(exists)
		if after, _ := json.Marshal(spec); string(after) != string(before) {
			t.Fatalf("Validate changed the spec:\nbefore %s\nafter  %s", before, after)
		}
		if again := spec.Validate(exists); !reflect.DeepEqual(errs, again) {
			t.Fatalf("Validate is not deterministic:\n%v\n%v", errs, again)
		}
		for _, e := range errs {
			if e.Message == "" {
				t.Errorf("error at %q has no message", e.Field)
			}
			if err := resolveField(reflect.ValueOf(spec), e.Field); err != nil {
				t.Errorf("error %q: field %q: %v", e.Message, e.Field, err)
			}
		}
		if exists != nil {
			withApps := map[paved.FieldError]int{}
			for _, e := range errs {
				withApps[e]++
			}
			for _, e := range spec.Validate(nil) {
				if withApps[e]--; withApps[e] < 0 {
					t.Errorf("%v is reported without an appExists check but not with one", e)
				}
			}
		}
		if t.Failed() || len(errs) > 0 {
			return
		}
		js, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("a valid spec does not encode: %v", err)
		}
		var back paved.PipelineSpec
		if err := strictUnmarshal(js, &back); err != nil {
			t.Fatalf("a valid spec encoded as %s does not decode strictly: %v", js, err)
		}
		if !specequal.Equal(spec, back) {
			t.Fatalf("round trip changed the spec:\nfirst  %#v\nsecond %#v\njson   %s", spec, back, js)
		}
		if errs := back.Validate(exists); len(errs) > 0 {
			t.Fatalf("valid before a round trip, invalid after: %v", errs)
		}
	})
}

// appExists picks the deploy-target check: none, every app, or only apps
// with an even-length name.
func appExists(mode uint8) func(string) bool {
	switch mode % 3 {
	case 1:
		return func(string) bool { return true }
	case 2:
		return func(name string) bool { return len(name)%2 == 0 }
	}
	return nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// fieldPath is the grammar of a FieldError's field: dotted JSON names, each
// optionally indexed ("jobs[1].plan[0].in_parallel[2].passed[0]").
var fieldPath = regexp.MustCompile(`^[a-z_]+(\[(0|[1-9][0-9]*)\])?(\.[a-z_]+(\[(0|[1-9][0-9]*)\])?)*$`)

var segment = regexp.MustCompile(`^([a-z_]+)(?:\[([0-9]+)\])?$`)

// resolveField checks that path is well-formed and walks it through v: each
// name must be the JSON name of a field of the struct reached so far, each
// index within its list, and only the last element may be nil or empty.
func resolveField(v reflect.Value, path string) error {
	if !fieldPath.MatchString(path) {
		return fmt.Errorf("not a well-formed JSON path")
	}
	parts := strings.Split(path, ".")
	for i, part := range parts {
		m := segment.FindStringSubmatch(part)
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return fmt.Errorf("%s: goes through a nil value", strings.Join(parts[:i], "."))
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return fmt.Errorf("%s: %s has no fields", part, v.Type())
		}
		field, ok := jsonFieldByName(v, m[1])
		if !ok {
			return fmt.Errorf("%s: %s has no JSON field %q", part, v.Type(), m[1])
		}
		v = field
		if m[2] != "" {
			idx, _ := strconv.Atoi(m[2])
			if v.Kind() != reflect.Slice {
				return fmt.Errorf("%s: %s is not a list", part, m[1])
			}
			if idx >= v.Len() {
				return fmt.Errorf("%s: index out of range (len %d)", part, v.Len())
			}
			v = v.Index(idx)
		}
	}
	return nil
}

// jsonFieldByName finds a struct field by its JSON name, looking into
// embedded structs.
func jsonFieldByName(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if sf.Anonymous && tag == "" && sf.Type.Kind() == reflect.Struct {
			if fv, ok := jsonFieldByName(v.Field(i), name); ok {
				return fv, true
			}
			continue
		}
		if tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// specGen builds a pipeline from fuzz bytes: each byte picks one choice
// (names from a small vocabulary so that references often resolve, kinds,
// counts, flags); running out of bytes picks the first choice everywhere.
type specGen struct {
	b     []byte
	depth int
}

func (g *specGen) pick(n int) int {
	if len(g.b) == 0 || n <= 1 {
		return 0
	}
	c := int(g.b[0]) % n
	g.b = g.b[1:]
	return c
}

func (g *specGen) flag() bool { return g.pick(2) == 1 }

func (g *specGen) name() string {
	return []string{"", "a", "b", "repo", "ver", "web", "out", "j", "Bad_Name", "-x", strings.Repeat("n", 64)}[g.pick(11)]
}

func (g *specGen) names() []string {
	var out []string
	for range g.pick(4) {
		out = append(out, g.name())
	}
	return out
}

func (g *specGen) dur() paved.Duration {
	return []paved.Duration{0, paved.Duration(time.Minute), -paved.Duration(time.Second), paved.Duration(31 * 24 * time.Hour)}[g.pick(4)]
}

func (g *specGen) pipeline() paved.PipelineSpec {
	p := paved.PipelineSpec{Name: g.name(), Paused: g.flag(), Retain: []int{0, 5, -1}[g.pick(3)]}
	for range g.pick(5) {
		p.Sources = append(p.Sources, paved.SourceSpec{
			Name: g.name(), Type: []string{paved.SourceGit, paved.SourceSemver, paved.SourceTime, paved.SourceAppRelease, "", "cron"}[g.pick(6)],
			CheckEvery: g.dur(), URI: []string{"", "/src"}[g.pick(2)], Branch: g.name(), Paths: g.names(),
			Initial: []string{"", "1.0.0", "v2", "x.y"}[g.pick(4)], Interval: g.dur(), App: g.name(), Gate: g.flag(),
		})
	}
	for range g.pick(5) {
		j := paved.JobSpec{Name: g.name(), Serial: g.flag(), MaxInFlight: []int{0, 1, 3, -1}[g.pick(4)]}
		for range g.pick(5) {
			j.Plan = append(j.Plan, g.step())
		}
		j.OnSuccess, j.OnFailure, j.Ensure = g.hook(), g.hook(), g.hook()
		p.Jobs = append(p.Jobs, j)
	}
	return p
}

func (g *specGen) hook() *paved.Step {
	if g.depth > 4 || g.pick(4) != 1 {
		return nil
	}
	s := g.step()
	return &s
}

func (g *specGen) step() paved.Step {
	g.depth++
	defer func() { g.depth-- }()
	var s paved.Step
	kinds := 9
	if g.depth > 4 {
		kinds = 7 // no more nesting
	}
	for {
		switch g.pick(kinds) {
		case 0:
			s.Get, s.Trigger, s.Passed = g.name(), g.flag(), g.names()
			s.Version = []string{"", "latest", "every", "1.2.3", "nope"}[g.pick(5)]
		case 1:
			s.Task, s.Run, s.Dir = g.name(), []string{"", " ", "make"}[g.pick(3)], g.name()
			s.Inputs, s.Outputs, s.Timeout, s.Attempts = g.names(), g.names(), g.dur(), []int{0, 2, -1}[g.pick(3)]
		case 2:
			s.Deploy, s.From = g.name(), g.name()
		case 3:
			s.Assert = g.name()
			switch g.pick(4) {
			case 1:
				s.HTTP = &paved.HTTPAssert{URL: []string{"", "router:/"}[g.pick(2)], MaxLatency: g.dur()}
			case 2:
				s.Command = "true"
			case 3:
				s.Backup = &paved.BackupAssert{Path: []string{"", "/b"}[g.pick(2)], App: g.name()}
			}
		case 4:
			s.Put, s.Bump = g.name(), []string{"", "major", "minor", "patch", "huge"}[g.pick(5)]
		case 5:
			s.Environment, s.FromSpace, s.App, s.Source, s.TTL = g.name(), g.name(), g.name(), g.name(), g.dur()
		case 6:
			// nothing: an empty step
		case 7:
			for range g.pick(4) {
				s.InParallel = append(s.InParallel, g.step())
			}
		case 8:
			t := g.step()
			s.Try = &t
		}
		if !g.flag() { // usually one kind; sometimes several, which is an error
			break
		}
	}
	s.OnSuccess, s.OnFailure, s.Ensure = g.hook(), g.hook(), g.hook()
	return s
}

// Validate once copied the directory set for every hook, which is
// quadratic: a 1 MiB body of many outputs and many hooks kept a cell busy
// for seconds. (Found when fuzzing stalled on large generated pipelines.)
// Memory allocated is the deterministic measure of that work.
func TestValidateManyHooksIsLinear(t *testing.T) {
	const n = 4000
	job := paved.JobSpec{Name: "j"}
	var outs []string
	for i := range n {
		outs = append(outs, fmt.Sprintf("o%d", i))
	}
	job.Plan = append(job.Plan, paved.Step{Task: "make", Run: "true", Outputs: outs})
	for range n {
		job.Plan = append(job.Plan, paved.Step{Task: "t", Run: "true", Ensure: &paved.Step{Task: "h", Run: "true", Inputs: []string{"o1"}}})
	}
	spec := paved.PipelineSpec{Name: "p", Jobs: []paved.JobSpec{job}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if errs := spec.Validate(nil); len(errs) != 0 {
		t.Fatal(errs)
	}
	runtime.ReadMemStats(&after)
	// Linear work is a few MB here; copying 4000 outputs for each of 4000
	// hooks is over a GB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("Validate allocated %d MB for %d outputs and %d hooks: quadratic", alloc>>20, n, n)
	}
}

// FuzzDuration decodes arbitrary JSON as a Duration, the type of every
// duration in specs (the API's, the pipeline file's). Invariants: a number
// of seconds decodes to the same sign and about the same value, or is
// refused, never wrapped around (it was: 1e10 seconds came out negative on
// amd64 and saturated on arm64); and a decoded duration encodes to a string
// that decodes to the same duration.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"1m30s"`, `"-5s"`, `90`, `1.5`, `-0.25`, `0`, `null`, `"soon"`, `true`, `1e10`, `-1e300`,
		`9223372036`, `9223372037`, `"2562047h47m16.854775807s"`, `"2562047h47m16.854775808s"`, `1e-12`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d paved.Duration
		if err := json.Unmarshal(data, &d); err != nil {
			return
		}
		var secs float64
		if json.Unmarshal(data, &secs) == nil {
			want := secs * float64(time.Second)
			if got := float64(d); math.Abs(got-want) > math.Max(1, math.Abs(want)*1e-9) {
				t.Fatalf("%s seconds decoded as %s (%v ns)", data, d, int64(d))
			}
		}
		js, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("%s does not encode: %v", d, err)
		}
		var back paved.Duration
		if err := json.Unmarshal(js, &back); err != nil || back != d {
			t.Fatalf("%s encodes as %s, which decodes as %s (%v)", d, js, back, err)
		}
	})
}
