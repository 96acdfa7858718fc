package cli

// Fuzz target for the pipeline file the CLI reads (`paved pipeline set -c
// pipeline.yml`). Run it with scripts/fuzz.sh or `make fuzz`; `go test`
// runs its seed corpus (f.Add below and testdata/fuzz/) as ordinary tests.
// The validator itself is fuzzed in paved (FuzzPipelineValidate).

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/specequal"
	"github.com/pavedroad/terraform-provider-paved/paved"
	"sigs.k8s.io/yaml"
	goyaml "sigs.k8s.io/yaml/goyaml.v2"
)

const seedPipelineYAML = `name: web
sources:
  - name: repo
    type: git
    uri: https://example.com/web.git
    branch: main
    paths: [src/]
    check_every: 30s
  - {name: ver, type: semver, initial: 1.0.0}
  - name: nightly
    type: time
    interval: 24h
jobs:
  - name: unit
    plan:
      - get: repo
        trigger: true
      - task: test
        run: |
          go test ./...
        inputs: [repo]
        outputs: [bin]
        timeout: 10m
        attempts: 2
        env: {CGO_ENABLED: "0"}
  - name: deploy
    serial: true
    plan:
      - in_parallel:
          - get: repo
            passed: [unit]
          - get: ver
      - deploy: web
        from: repo
      - assert: smoke
        http: {url: "router:/healthz", host: web.example.com, status: 200, max_latency: 500ms}
      - put: ver
        bump: patch
    on_failure:
      task: notify
      run: echo failed
`

// FuzzParsePipeline feeds arbitrary bytes to ParsePipeline. Invariants: it
// never panics and returns an error or a spec; what it accepts is one YAML
// document without duplicate keys (strict, as the CLI promises); Validate
// never panics on the result and names well-formed fields; and the spec is
// a fixpoint of the file format: written as JSON or as YAML, it parses back
// to the same spec.
func FuzzParsePipeline(f *testing.F) {
	for _, s := range []string{
		seedPipelineYAML,
		`{"name":"p","jobs":[{"name":"j","plan":[{"task":"t","run":"true"}]}]}`,
		"name: p\njobs:\n  - name: j\n    plan: [{task: t, run: 'true'}]\n",
		"name: p\nbogus: 1\n",
		"name: p\njobs: []\n---\nname: q\n",
		"name: p\nname: q\n",
		"name: p\njobs:\n  - name: a\n    plan: [{task: t, run: x}]\njobs: []\n",
		"name: &n p\njobs:\n  - name: *n\n    plan: [{task: t, run: x}]\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\n",
		"name: yes\nretain: 0x10\npaused: on\n",
		"name: p\nsources:\n  - {name: s, type: time, interval: 1e400}\n",
		"name: p\nsources:\n  - {name: s, type: time, interval: -5}\n",
		"? [a, b]\n: c\n",
		"1: 2\n",
		"- a\n- b\n",
		"'unterminated",
		"\t bad indent",
		"",
		"~",
		`{"name":"a"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParsePipeline(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if err := oneStrictDocument(data); err != nil {
			t.Fatalf("ParsePipeline accepted %q, which is not one strict YAML document: %v", data, err)
		}
		for _, e := range spec.Validate(nil) {
			if !fieldPathRE.MatchString(e.Field) || e.Message == "" {
				t.Fatalf("malformed validation error %+v", e)
			}
		}
		js, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("a parsed spec does not encode as JSON: %v", err)
		}
		fromJSON, err := ParsePipeline(js)
		if err != nil {
			t.Fatalf("the JSON of a parsed spec does not parse: %v\n%s", err, js)
		}
		if !specequal.Equal(spec, fromJSON) {
			t.Fatalf("JSON round trip changed the spec:\nfirst  %#v\nsecond %#v\njson   %s", spec, fromJSON, js)
		}
		ym, err := yaml.Marshal(spec)
		if err != nil {
			t.Fatalf("a parsed spec does not encode as YAML: %v", err)
		}
		fromYAML, err := ParsePipeline(ym)
		if err != nil {
			t.Fatalf("the YAML of a parsed spec does not parse: %v\n%s", err, ym)
		}
		if !specequal.Equal(spec, fromYAML) {
			t.Fatalf("YAML round trip changed the spec:\nfirst  %#v\nsecond %#v\nyaml\n%s", spec, fromYAML, ym)
		}
	})
}

var fieldPathRE = regexp.MustCompile(`^[a-z_]+(\[(0|[1-9][0-9]*)\])?(\.[a-z_]+(\[(0|[1-9][0-9]*)\])?)*$`)

// oneStrictDocument is the test's own statement of "strict": data holds at
// most one YAML document, and that document has no duplicate keys.
func oneStrictDocument(data []byte) error {
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	dec.SetStrict(true)
	var doc any
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch err := dec.Decode(&doc); {
	case err == nil:
		return errors.New("a second YAML document")
	case !errors.Is(err, io.EOF):
		return err
	}
	return nil
}

var _ = paved.PipelineSpec{}
