package api

// Fuzz targets for the API's JSON input: the strict decoder (decode, with
// its unknown-field paths), the spec validators, and the write endpoints
// driven through the real handler against a real store. Run them with
// scripts/fuzz.sh or `make fuzz`; `go test` runs their seed corpus
// (f.Add below and testdata/fuzz/) as ordinary tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/logbuf"
	"github.com/pavedroad/terraform-provider-paved/internal/router"
	"github.com/pavedroad/terraform-provider-paved/internal/stager"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/specequal"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// The spec types a write endpoint decodes, selected by the fuzzer's kind.
const (
	specSpace = iota
	specApp
	specPipeline
	specDeployment
	numSpecKinds
)

// apiSeeds are bodies worth starting from: valid specs of every kind, and
// the shapes of input the decoder must refuse cleanly.
var apiSeeds = []string{
	`{"name":"web"}`,
	`{"name":"web","labels":{"team":"a","":"x"}}`,
	`{"name":"web","command":"./server","instances":2,"env":{"A":"1"},"secret_env":{"B":"2"},"memory_mb":128,
	  "health_check":{"type":"http","path":"/up","interval":"5s","timeout":"1s","grace":30},
	  "routes":[{"host":"web.example.com"},{"host":"web.example.com","path":"/api"}],
	  "deployment":{"strategy":"canary","steps":[{"instances":1,"watch":"10s"},{"weight":50}],"max_error_rate":0.1,"min_requests":5,"progress_deadline":"1m","auto_rollback":false}}`,
	`{"name":"web","command":"x","routes":[{"host":"base.test","path":"/api/"}]}`,
	`{"name":"web","command":"x","routes":[{"host":"base.test","path":"/"}]}`,
	`{"name":"web","command":"x","deployment":{"strategy":"rolling","max_in_flight":"50%","min_healthy_time":"1s","drain_timeout":"2s"}}`,
	`{"name":"web","command":"x","deployment":{"strategy":"blue_green","keep_old":"30s"}}`,
	`{"name":"p","sources":[{"name":"repo","type":"git","uri":"/src","branch":"main","paths":["app/"]},{"name":"ver","type":"semver","initial":"1.0.0"},{"name":"tick","type":"time","interval":"10m"}],
	  "jobs":[{"name":"unit","plan":[{"get":"repo","trigger":true},{"task":"test","run":"go test ./...","inputs":["repo"],"outputs":["out"],"timeout":"5m","attempts":2},
	  {"put":"ver","bump":"patch"},{"in_parallel":[{"assert":"up","http":{"url":"router:/","host":"web.test","status":200,"max_latency":"1s"}},{"try":{"assert":"c","command":"true"}}]}],
	  "on_failure":{"task":"notify","run":"echo failed"}},
	  {"name":"deploy","serial":true,"plan":[{"get":"repo","passed":["unit"]},{"deploy":"base","from":"repo"}]}]}`,
	`{"name":"p","jobs":[{"name":"a","plan":[{"get":"s","passed":["b"]}]},{"name":"b","plan":[{"get":"s","passed":["a"]}]}],"sources":[{"name":"s","type":"semver"}]}`,
	`{"strategy":"canary","steps":[{"weight":10,"watch":"1m"}],"max_error_rate":0.05}`,
	`{"name":"web","health_check":{"type":"http","bogus":1}}`,
	`{"name":"web","routes":[{"host":"a.test"},{"hots":"b.test"}]}`,
	`{"name":"web","command":"x","health_check":{"interval":"soon"}}`,
	`{"name":"web","instances":"two"}`,
	`{"name":"web","command":"x","instances":1e400}`,
	`{"name":"web","command":"x","health_check":{"interval":1e300}}`,
	`{"name":"web"} {"name":"again"}`,
	`{"name":"web"}]`,
	`{"name":"web"}}, "x"`,
	`{"name":"web"`,
	`[]`,
	`null`,
	`"web"`,
	``,
	"\xff\xfe{}",
	`{"name":"caf\u00e9","labels":{"k":"\ud800"}}`,
	`{"NAME":"web","Command":"x"}`,
	`{"name":"web","name":"again"}`,
	`{"env":{"A":{"nested":[1,2,{"x":null}]}}}`,
	strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100),
}

// FuzzDecodeSpec decodes arbitrary bodies into each spec type the API
// accepts, then validates them. Invariants: decode never panics and
// returns either nil or an *apiError with a 4xx status; a spec that decodes
// and validates re-encodes to JSON that decodes to the same spec (modulo
// empty vs absent maps and lists, which the JSON omits) and still validates.
func FuzzDecodeSpec(f *testing.F) {
	for _, s := range apiSeeds {
		for kind := range numSpecKinds {
			f.Add(uint8(kind), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		v := newSpec(int(kind) % numSpecKinds)
		err := decodeBytes(body, v)
		if err != nil {
			checkAPIError(t, err)
			return
		}
		// Strict means no more lenient than encoding/json, trailing data included.
		if err := json.Unmarshal(body, reflect.New(reflect.TypeOf(v).Elem()).Interface()); err != nil {
			t.Fatalf("decode accepted a body encoding/json refuses (%v): %q", err, body)
		}
		if err := validateSpec(v); err != nil {
			checkAPIError(t, err)
			var ae *apiError
			if errors.As(err, &ae) && ae.body.Field == "" {
				t.Fatalf("validation error without a field: %v", err)
			}
			return
		}
		again := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("a valid spec does not encode: %v\n%#v", err, v)
		}
		if err := decodeBytes(data, again); err != nil {
			t.Fatalf("a valid spec re-encoded as %s does not decode: %v", data, err)
		}
		if !specequal.Equal(v, again) {
			t.Fatalf("round trip changed the spec:\nbody   %q\nfirst  %#v\nsecond %#v\njson   %s", body, v, again, data)
		}
		if err := validateSpec(again); err != nil {
			t.Fatalf("a valid spec is invalid after a round trip: %v\n%s", err, data)
		}
	})
}

func newSpec(kind int) any {
	switch kind {
	case specSpace:
		return &paved.SpaceSpec{}
	case specApp:
		return &paved.AppSpec{}
	case specPipeline:
		return &paved.PipelineSpec{}
	default:
		return &paved.DeploymentSpec{}
	}
}

func validateSpec(v any) error {
	switch s := v.(type) {
	case *paved.SpaceSpec:
		return validateSpace(*s)
	case *paved.AppSpec:
		return validateApp(*s)
	case *paved.PipelineSpec:
		if errs := s.Validate(nil); len(errs) > 0 {
			return invalid(errs[0].Field, "%s", errs[0].Message)
		}
	case *paved.DeploymentSpec:
		// As validateApp checks an app's deployment block, for the largest app.
		if errs := s.Validate(paved.MaxAppInstances); len(errs) > 0 {
			return invalid("deployment."+errs[0].Field, "%s", errs[0].Message)
		}
	}
	return nil
}

// decodeBytes runs the API's decoder on body as a request would.
func decodeBytes(body []byte, v any) error {
	r := httptest.NewRequest(http.MethodPost, "/v1/spaces", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return decode(r, v)
}

// checkAPIError requires err to be an *apiError answering 4xx with a code
// and a message.
func checkAPIError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *apiError: it would answer 500", err, err)
	}
	if ae.status < 400 || ae.status > 499 {
		t.Fatalf("error %v answers status %d, want 4xx", err, ae.status)
	}
	if ae.body.Code == "" || ae.body.Message == "" {
		t.Fatalf("error without a code or message: %+v", ae.body)
	}
}

// ---------------------------------------------------------------------------
// Through the handler.

// fuzzPipelines is the pipeline engine the handler target needs.
type fuzzPipelines struct{}

func (fuzzPipelines) Notify(int64)                                     {}
func (fuzzPipelines) Check(_ context.Context, _ int64, _ string) error { return nil }
func (fuzzPipelines) LogPath(store.JobBuild) string                    { return "" }
func (fuzzPipelines) Stopped(context.Context, int64) error             { return nil }

type fuzzDeployer struct{}

func (fuzzDeployer) Notify(string, string)                           {}
func (fuzzDeployer) Instances(string, string) []paved.InstanceStatus { return nil }
func (fuzzDeployer) Counts() (int, int)                              { return 0, 0 }

// Handler operations, selected by the fuzzer's op.
const (
	opCreateSpace = iota // POST /v1/spaces
	opUpdateSpace        // PUT /v1/spaces/fz
	opCreateApp          // POST /v1/spaces/fz/apps
	opUpdateApp          // PUT /v1/spaces/fz/apps/base
	opSetPipeline        // PUT /v1/spaces/fz/pipelines/p
	numOps
)

const fuzzToken = "fuzz-token"

type fuzzCell struct {
	srv    *Server
	store  *store.SQLite
	router *router.Router
}

// newFuzzCell builds the API on a real store with space fz holding app
// base, whose routes later writes must not take over.
func newFuzzCell(f *testing.F) *fuzzCell {
	dir := f.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		f.Fatalf("store.Open: %v", err)
	}
	f.Cleanup(func() { st.Close() })
	stg, err := stager.New(st, stager.Options{DataDir: dir})
	if err != nil {
		f.Fatalf("stager.New: %v", err)
	}
	var tokens atomic.Int64
	c := &fuzzCell{store: st, router: router.New(router.Options{})}
	c.srv = New(Options{Store: st, Deployer: fuzzDeployer{}, Stager: stg, Logs: logbuf.New(0), Token: fuzzToken,
		Pipelines: fuzzPipelines{}, NewToken: func() string { return fmt.Sprintf("hook-%d", tokens.Add(1)) }})
	for _, w := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/spaces", `{"name":"fz"}`},
		{http.MethodPost, "/v1/spaces/fz/apps", `{"name":"base","command":"x","routes":[{"host":"base.test"},{"host":"base.test","path":"/api"},{"host":"other.test","path":"/a/b"}]}`},
	} {
		if status, body := c.do(w.method, w.path, []byte(w.body)); status >= 300 {
			f.Fatalf("%s %s: %d %s", w.method, w.path, status, body)
		}
	}
	return c
}

func (c *fuzzCell) do(method, path string, body []byte) (int, []byte) {
	w := c.send(method, path, body)
	return w.Code, w.Body.Bytes()
}

func (c *fuzzCell) send(method, path string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+fuzzToken)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	c.srv.ServeHTTP(w, r)
	return w
}

// FuzzAPIWrite sends arbitrary bodies to the write endpoints of a real
// handler and store. Invariants: never a 5xx; every 4xx is a JSON error
// envelope with a code and a message (and a field when it is a 422); a
// write that succeeds reads back as the spec that was sent; and after an
// app write, every route of every app reaches that app through the router
// (an app can never take over a route another app serves).
func FuzzAPIWrite(f *testing.F) {
	for _, s := range apiSeeds {
		for op := range numOps {
			f.Add(uint8(op), []byte(s))
		}
	}
	c := newFuzzCell(f)
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		var method, path string
		var spec any
		switch op % numOps {
		case opCreateSpace:
			method, path, spec = http.MethodPost, "/v1/spaces", &paved.SpaceSpec{}
		case opUpdateSpace:
			method, path, spec = http.MethodPut, "/v1/spaces/fz", &paved.SpaceSpec{}
		case opCreateApp:
			method, path, spec = http.MethodPost, "/v1/spaces/fz/apps", &paved.AppSpec{}
		case opUpdateApp:
			method, path, spec = http.MethodPut, "/v1/spaces/fz/apps/base", &paved.AppSpec{}
		case opSetPipeline:
			method, path, spec = http.MethodPut, "/v1/spaces/fz/pipelines/p", &paved.PipelineSpec{}
		}
		w := c.send(method, path, body)
		status, resp := w.Code, w.Body.Bytes()
		if status >= 500 {
			t.Fatalf("%s %s answered %d: %s\nbody %q", method, path, status, resp, body)
		}
		if status >= 400 {
			var eb paved.ErrorBody
			if err := json.Unmarshal(resp, &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%s %s answered %d without an error envelope: %s", method, path, status, resp)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("%s %s answered %d with Content-Type %q", method, path, status, ct)
			}
			if status == http.StatusUnprocessableEntity && eb.Error.Field == "" {
				t.Fatalf("%s %s: a validation error names no field: %s", method, path, resp)
			}
			return
		}
		// Accepted: the body is a valid spec, and the cell kept it as sent.
		if err := json.Unmarshal(body, spec); err != nil {
			t.Fatalf("%s %s accepted a body encoding/json refuses (%v): %q", method, path, err, body)
		}
		switch s := spec.(type) {
		case *paved.SpaceSpec:
			if s.Name == "" {
				s.Name = "fz"
			}
			var got paved.Space
			c.get(t, "/v1/spaces/"+s.Name, &got)
			if got.Name != s.Name || !specequal.Equal(got.Labels, s.Labels) {
				t.Fatalf("space read back as %+v, sent %+v", got, s)
			}
			if op%numOps == opCreateSpace {
				c.mustDo(t, http.MethodDelete, "/v1/spaces/"+s.Name, http.StatusNoContent)
			}
		case *paved.AppSpec:
			if s.Name == "" {
				s.Name = "base"
			}
			var got paved.App
			c.get(t, "/v1/spaces/fz/apps/"+s.Name, &got)
			sent, read := *s, got.AppSpec
			sent.SecretEnv, read.SecretEnv = nil, nil
			if !specequal.Equal(&sent, &read) {
				t.Fatalf("app read back as\n%#v\nsent\n%#v", read, sent)
			}
			c.checkRoutes(t)
			if op%numOps == opCreateApp {
				c.mustDo(t, http.MethodDelete, "/v1/spaces/fz/apps/"+s.Name, http.StatusNoContent)
			}
		case *paved.PipelineSpec:
			if s.Name == "" {
				s.Name = "p"
			}
			var got paved.Pipeline
			c.get(t, "/v1/spaces/fz/pipelines/p", &got)
			if !specequal.Equal(&got.PipelineSpec, s) {
				t.Fatalf("pipeline read back as\n%#v\nsent\n%#v", got.PipelineSpec, s)
			}
			c.mustDo(t, http.MethodDelete, "/v1/spaces/fz/pipelines/p", http.StatusNoContent)
		}
	})
}

func (c *fuzzCell) get(t *testing.T, path string, v any) {
	t.Helper()
	status, resp := c.do(http.MethodGet, path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, resp)
	}
	if err := json.Unmarshal(resp, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func (c *fuzzCell) mustDo(t *testing.T, method, path string, want int) {
	t.Helper()
	if status, resp := c.do(method, path, nil); status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, resp)
	}
}

// checkRoutes loads every app's routes into a router, as the deployer
// does, and requests each route's own host and path: the router must
// choose the app that declared it. (No app has instances, so the router
// answers 502 naming the app it chose.)
func (c *fuzzCell) checkRoutes(t *testing.T) {
	t.Helper()
	apps, err := c.store.ListApps(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var table []router.Route
	for _, a := range apps {
		for _, r := range a.Spec.Routes {
			table = append(table, router.Route{Host: r.Host, Path: r.Path, App: a.Space + "/" + a.Spec.Name})
		}
	}
	c.router.Update(table)
	for _, rt := range table {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = rt.Host
		req.URL.Path = rt.Path
		if req.URL.Path == "" {
			req.URL.Path = "/"
		}
		w := httptest.NewRecorder()
		c.router.ServeHTTP(w, req)
		if want := "app " + strconv.Quote(rt.App) + " has no healthy instance"; !strings.Contains(w.Body.String(), want) {
			t.Fatalf("route %s%s of %s: the router answers %d %q; the API let two apps claim it\nroutes: %+v",
				rt.Host, rt.Path, rt.App, w.Code, w.Body.String(), table)
		}
	}
}
