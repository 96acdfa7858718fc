package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/api"
	"github.com/pavedroad/terraform-provider-paved/internal/logbuf"
	"github.com/pavedroad/terraform-provider-paved/internal/stager"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

const token = "t"

// fakeDeployer records what the API tells the deployer.
type fakeDeployer struct {
	mu       sync.Mutex
	notified []string
}

func (d *fakeDeployer) Notify(space, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.notified = append(d.notified, space+"/"+name)
}

func (d *fakeDeployer) Instances(space, name string) []paved.InstanceStatus { return nil }
func (d *fakeDeployer) Counts() (int, int)                                  { return 0, 0 }

func (d *fakeDeployer) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.notified...)
}

type env struct {
	t      *testing.T
	srv    *httptest.Server
	store  *store.SQLite
	stager *stager.Stager
	dep    *fakeDeployer
}

func newEnv(t *testing.T, tweak func(*api.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	stg, err := stager.New(st, stager.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("stager.New: %v", err)
	}
	dep := &fakeDeployer{}
	opts := api.Options{Store: st, Deployer: dep, Stager: stg, Logs: logbuf.New(0), Token: token}
	if tweak != nil {
		tweak(&opts)
	}
	srv := httptest.NewServer(api.New(opts))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st, stager: stg, dep: dep}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// apiError decodes the error envelope, failing the test if it is missing.
func (r response) apiError(t *testing.T) paved.APIError {
	t.Helper()
	var eb paved.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil {
		t.Fatalf("status %d body %q is not an error envelope (%v)", r.status, r.body, err)
	}
	return *eb.Error
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// request sends body (a string, []byte, io.Reader or a value to marshal)
// with the token unless headers set Authorization ("" to send none).
func (e *env) request(method, path string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// expect checks the status and, for errors, the code and field.
func expect(t *testing.T, what string, r response, status int, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	if status >= 400 {
		ae := r.apiError(t)
		if ae.Field != field {
			t.Errorf("%s: field %q, want %q (message %q)", what, ae.Field, field, ae.Message)
		}
		if ae.Code == "" || ae.Message == "" {
			t.Errorf("%s: error without code or message: %+v", what, ae)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
	}
}

func (e *env) mustCreate(path string, body any) response {
	e.t.Helper()
	r := e.request(http.MethodPost, path, body)
	expect(e.t, "POST "+path, r, http.StatusCreated, "")
	return r
}

func app(name string, routes ...string) map[string]any {
	a := map[string]any{"name": name, "command": "./server", "instances": 1}
	var rs []map[string]string
	for _, h := range routes {
		rs = append(rs, map[string]string{"host": h})
	}
	if rs != nil {
		a["routes"] = rs
	}
	return a
}

type tarEntry struct {
	name string
	body string
	dir  bool
}

func makeTarGz(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.dir {
			hdr = &tar.Header{Name: e.name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if !e.dir {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func eventActions(t *testing.T, e *env, query string) []string {
	t.Helper()
	r := e.request(http.MethodGet, "/v1/events"+query, nil)
	expect(t, "GET /v1/events", r, 200, "")
	var out struct{ Events []paved.Event }
	r.decode(t, &out)
	var acts []string
	for _, ev := range out.Events {
		acts = append(acts, ev.Action+" "+ev.Object)
	}
	return acts
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"token prefix", "Bearer tt", 401},
		{"not bearer", "Basic dDp0", 401},
		{"lowercase scheme, raw token", "t", 401},
		{"right token", "Bearer t", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.request(http.MethodGet, "/v1/spaces", nil, "Authorization", tc.auth)
			expect(t, tc.name, r, tc.status, "")
			if tc.status == 401 {
				if ae := r.apiError(t); ae.Code != paved.CodeUnauthorized {
					t.Errorf("code %q, want unauthorized", ae.Code)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			}
		})
	}
	// A write without a token changes nothing.
	r := e.request(http.MethodPost, "/v1/spaces", `{"name":"sneaky"}`, "Authorization", "")
	expect(t, "unauthenticated POST", r, 401, "")
	if _, err := e.store.GetSpace(context.Background(), "sneaky"); err == nil {
		t.Errorf("an unauthenticated POST created a space")
	}

	for _, auth := range []string{"", "Bearer wrong"} {
		r := e.request(http.MethodGet, "/v1/health", nil, "Authorization", auth)
		expect(t, "health with auth "+auth, r, 200, "")
		var h paved.CellHealth
		r.decode(t, &h)
		if h.Status != "ok" {
			t.Errorf("health = %+v", h)
		}
	}
}

func TestHealthCounts(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Region = "eu-1"; o.Version = "v9" })
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", app("web"))
	var h paved.CellHealth
	e.request(http.MethodGet, "/v1/health", nil, "Authorization", "").decode(t, &h)
	if h.Counts.Spaces != 1 || h.Counts.Apps != 1 || h.Region != "eu-1" || h.Version != "v9" {
		t.Errorf("health = %+v", h)
	}
}

func TestCreateSpace(t *testing.T) {
	e := newEnv(t, nil)
	r := e.mustCreate("/v1/spaces", `{"name":"prod","labels":{"team":"web"}}`)
	if got := r.header.Get("ETag"); got != `"1"` {
		t.Errorf("ETag = %q, want \"1\"", got)
	}
	if got := r.header.Get("Location"); got != "/v1/spaces/prod" {
		t.Errorf("Location = %q", got)
	}
	var sp paved.Space
	r.decode(t, &sp)
	if sp.Name != "prod" || sp.Version != 1 || sp.Labels["team"] != "web" {
		t.Errorf("space = %+v", sp)
	}

	r = e.request(http.MethodGet, "/v1/spaces/prod", nil)
	expect(t, "GET space", r, 200, "")
	if got := r.header.Get("ETag"); got != `"1"` {
		t.Errorf("GET ETag = %q", got)
	}
	expect(t, "create twice", e.request(http.MethodPost, "/v1/spaces", `{"name":"prod"}`), 409, "name")
	expect(t, "GET missing", e.request(http.MethodGet, "/v1/spaces/nope", nil), 404, "")

	var list struct{ Spaces []paved.Space }
	e.request(http.MethodGet, "/v1/spaces", nil).decode(t, &list)
	if len(list.Spaces) != 1 || list.Spaces[0].Name != "prod" {
		t.Errorf("list = %+v", list)
	}
}

func TestSpaceNameValidation(t *testing.T) {
	e := newEnv(t, nil)
	for _, name := range []string{"Prod", strings.Repeat("a", 64), "-prod", "prod-", "", "a_b", "a.b", "pr od"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"name": name})
			r := e.request(http.MethodPost, "/v1/spaces", body)
			expect(t, "create", r, 422, "name")
			if ae := r.apiError(t); ae.Code != paved.CodeValidation {
				t.Errorf("code %q, want invalid", ae.Code)
			}
		})
	}
	for _, name := range []string{"a", "9", "a-b-c", strings.Repeat("x", 63)} {
		body, _ := json.Marshal(map[string]string{"name": name})
		expect(t, "create "+name, e.request(http.MethodPost, "/v1/spaces", body), 201, "")
	}
	r := e.request(http.MethodPost, "/v1/spaces", `{"name":"lbl","labels":{"":"x"}}`)
	expect(t, "empty label key", r, 422, "labels")
}

func TestJSONDecodingErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	tests := []struct {
		name   string
		path   string
		body   string
		ctype  string
		status int
		field  string
	}{
		{"unknown field", "/v1/spaces", `{"name":"x","colour":"red"}`, "", 400, "colour"},
		{"unknown app field", "/v1/spaces/prod/apps", `{"name":"web","command":"x","replicas":2}`, "", 400, "replicas"},
		{"wrong type", "/v1/spaces", `{"name":5}`, "", 400, "name"},
		{"wrong type in app", "/v1/spaces/prod/apps", `{"name":"web","command":"x","instances":"three"}`, "", 400, "instances"},
		{"labels not an object", "/v1/spaces", `{"name":"x","labels":["a"]}`, "", 400, "labels"},
		{"malformed", "/v1/spaces", `{"name":"x",}`, "", 400, ""},
		{"not json", "/v1/spaces", `name=x`, "", 400, ""},
		{"truncated", "/v1/spaces", `{"name":`, "", 400, ""},
		{"empty body", "/v1/spaces", ``, "", 400, ""},
		{"two objects", "/v1/spaces", `{"name":"x"} {"name":"y"}`, "", 400, ""},
		{"bad duration", "/v1/spaces/prod/apps", `{"name":"web","command":"x","health_check":{"type":"http","interval":"often"}}`, "", 400, ""},
		{"form content type", "/v1/spaces", `{"name":"x"}`, "application/x-www-form-urlencoded", 415, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ctype != "" {
				hdr = []string{"Content-Type", tc.ctype}
			}
			r := e.request(http.MethodPost, tc.path, tc.body, hdr...)
			expect(t, tc.name, r, tc.status, tc.field)
			if ae := r.apiError(t); ae.Code != paved.CodeBadRequest {
				t.Errorf("code %q, want bad_request", ae.Code)
			}
		})
	}
	// Nothing above was created.
	var list struct{ Spaces []paved.Space }
	e.request(http.MethodGet, "/v1/spaces", nil).decode(t, &list)
	if len(list.Spaces) != 1 {
		t.Errorf("spaces after refused creates = %+v", list.Spaces)
	}
	// The bad duration message explains itself.
	r := e.request(http.MethodPost, "/v1/spaces/prod/apps", `{"name":"web","command":"x","health_check":{"type":"http","interval":"often"}}`)
	if ae := r.apiError(t); !strings.Contains(ae.Message, "often") {
		t.Errorf("bad duration message %q does not name the value", ae.Message)
	}
}

func TestJSONBodyTooLarge(t *testing.T) {
	e := newEnv(t, nil)
	big := `{"name":"x","labels":{"k":"` + strings.Repeat("v", 1<<20) + `"}}`
	r := e.request(http.MethodPost, "/v1/spaces", big)
	expect(t, "1 MiB body", r, 413, "")
	if ae := r.apiError(t); ae.Code != paved.CodeTooLarge {
		t.Errorf("code %q, want too_large", ae.Code)
	}
}

func TestAppCreateValidation(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	unknownDigest := strings.Repeat("ab", 32)
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"missing command", `{"name":"web","instances":1}`, "command"},
		{"blank command", `{"name":"web","command":"   "}`, "command"},
		{"bad name", `{"name":"Web","command":"x"}`, "name"},
		{"no name", `{"command":"x"}`, "name"},
		{"negative instances", `{"name":"web","command":"x","instances":-1}`, "instances"},
		{"too many instances", `{"name":"web","command":"x","instances":257}`, "instances"},
		{"negative memory", `{"name":"web","command":"x","memory_mb":-5}`, "memory_mb"},
		{"health check type", `{"name":"web","command":"x","health_check":{"type":"foo"}}`, "health_check.type"},
		{"health check no type", `{"name":"web","command":"x","health_check":{"path":"/up"}}`, "health_check.type"},
		{"health path on tcp", `{"name":"web","command":"x","health_check":{"type":"tcp","path":"/up"}}`, "health_check.path"},
		{"health path relative", `{"name":"web","command":"x","health_check":{"type":"http","path":"up"}}`, "health_check.path"},
		{"timeout over interval", `{"name":"web","command":"x","health_check":{"type":"http","interval":"1s","timeout":"2s"}}`, "health_check.timeout"},
		{"negative grace", `{"name":"web","command":"x","health_check":{"type":"http","grace":-1}}`, "health_check.grace"},
		{"bad host", `{"name":"web","command":"x","routes":[{"host":"Bad_Host"}]}`, "routes[0].host"},
		{"empty host", `{"name":"web","command":"x","routes":[{"host":"ok.example.com"},{"host":""}]}`, "routes[1].host"},
		{"relative route path", `{"name":"web","command":"x","routes":[{"host":"a.example.com","path":"api"}]}`, "routes[0].path"},
		{"route listed twice", `{"name":"web","command":"x","routes":[{"host":"a.example.com","path":"/"},{"host":"a.example.com"}]}`, "routes[1]"},
		{"env PORT", `{"name":"web","command":"x","env":{"PORT":"80"}}`, "env.PORT"},
		{"env PAVED_", `{"name":"web","command":"x","env":{"PAVED_TOKEN":"x"}}`, "env.PAVED_TOKEN"},
		{"env bad name", `{"name":"web","command":"x","env":{"1X":"x"}}`, "env.1X"},
		{"source not a digest", `{"name":"web","command":"x","source":"abc"}`, "source"},
		{"source never uploaded", `{"name":"web","command":"x","source":"` + unknownDigest + `"}`, "source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.request(http.MethodPost, "/v1/spaces/prod/apps", tc.body)
			expect(t, tc.name, r, 422, tc.field)
			if ae := r.apiError(t); ae.Code != paved.CodeValidation {
				t.Errorf("code %q, want invalid", ae.Code)
			}
		})
	}
	expect(t, "missing space", e.request(http.MethodPost, "/v1/spaces/nope/apps", app("web")), 404, "")

	var list struct{ Apps []paved.App }
	e.request(http.MethodGet, "/v1/spaces/prod/apps", nil).decode(t, &list)
	if len(list.Apps) != 0 {
		t.Errorf("refused creates left apps: %+v", list.Apps)
	}
	if n := e.dep.calls(); len(n) != 0 {
		t.Errorf("refused creates notified the deployer: %v", n)
	}
}

func TestAppCreateGetList(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	r := e.mustCreate("/v1/spaces/prod/apps", `{"name":"web","command":"./server","instances":2,"env":{"A":"1"},
		"health_check":{"type":"http","path":"/up","interval":"5s","timeout":"1s"},"routes":[{"host":"web.example.com"}]}`)
	if got := r.header.Get("ETag"); got != `"1"` {
		t.Errorf("ETag = %q", got)
	}
	if got := r.header.Get("Location"); got != "/v1/spaces/prod/apps/web" {
		t.Errorf("Location = %q", got)
	}
	var a paved.App
	r.decode(t, &a)
	if a.Name != "web" || a.Space != "prod" || a.Instances != 2 || a.Status != paved.AppPending ||
		a.Version != 1 || a.Generation != 1 || a.HealthCheck == nil || a.HealthCheck.Interval.String() != "5s" {
		t.Errorf("app = %+v", a)
	}
	expect(t, "create twice", e.request(http.MethodPost, "/v1/spaces/prod/apps", app("web")), 409, "name")

	r = e.request(http.MethodGet, "/v1/spaces/prod/apps/web", nil)
	expect(t, "GET app", r, 200, "")
	if r.header.Get("ETag") != `"1"` {
		t.Errorf("GET ETag = %q", r.header.Get("ETag"))
	}
	r = e.request(http.MethodGet, "/v1/spaces/prod/apps/nope", nil)
	expect(t, "GET missing app", r, 404, "")
	if msg := r.apiError(t).Message; !strings.Contains(msg, "nope") {
		t.Errorf("message %q does not name the app", msg)
	}
	r = e.request(http.MethodGet, "/v1/spaces/void/apps/web", nil)
	expect(t, "GET app in missing space", r, 404, "")
	if msg := r.apiError(t).Message; !strings.Contains(msg, "void") {
		t.Errorf("message %q does not name the space", msg)
	}

	var list struct{ Apps []paved.App }
	e.request(http.MethodGet, "/v1/apps", nil).decode(t, &list)
	if len(list.Apps) != 1 || list.Apps[0].Name != "web" {
		t.Errorf("GET /v1/apps = %+v", list)
	}
	expect(t, "list apps of missing space", e.request(http.MethodGet, "/v1/spaces/void/apps", nil), 404, "")
}

func TestRouteConflicts(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces", `{"name":"dev"}`)
	e.mustCreate("/v1/spaces/prod/apps", app("a", "shop.example.com"))

	r := e.request(http.MethodPost, "/v1/spaces/dev/apps", app("b", "shop.example.com"))
	expect(t, "same route, other space", r, 409, "routes[0]")
	if ae := r.apiError(t); ae.Code != paved.CodeRouteTaken || !strings.Contains(ae.Message, "prod/a") {
		t.Errorf("conflict = %+v, want it to name prod/a", ae)
	}
	r = e.request(http.MethodPost, "/v1/spaces/prod/apps",
		`{"name":"c","command":"x","routes":[{"host":"other.example.com"},{"host":"shop.example.com","path":"/"}]}`)
	expect(t, "same route with path /", r, 409, "routes[1]")

	e.mustCreate("/v1/spaces/prod/apps", `{"name":"d","command":"x","routes":[{"host":"shop.example.com","path":"/api"}]}`)
	r = e.request(http.MethodPost, "/v1/spaces/prod/apps", `{"name":"e","command":"x","routes":[{"host":"shop.example.com","path":"/api/"}]}`)
	expect(t, "same path with trailing slash", r, 409, "routes[0]")

	// An app keeps its own routes when it is updated.
	r = e.request(http.MethodPut, "/v1/spaces/prod/apps/a", app("a", "shop.example.com"))
	expect(t, "update keeping own route", r, 200, "")
	// ... but cannot take another app's.
	r = e.request(http.MethodPut, "/v1/spaces/prod/apps/a",
		`{"name":"a","command":"x","routes":[{"host":"shop.example.com"},{"host":"shop.example.com","path":"/api"}]}`)
	expect(t, "update taking d's route", r, 409, "routes[1]")
}

func TestUpdateWithIfMatch(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", app("web"))

	upd := app("web")
	upd["instances"] = 3
	r := e.request(http.MethodPut, "/v1/spaces/prod/apps/web", upd, "If-Match", `"1"`)
	expect(t, "fresh If-Match", r, 200, "")
	if got := r.header.Get("ETag"); got != `"2"` {
		t.Errorf("ETag after update = %q, want \"2\"", got)
	}
	var a paved.App
	r.decode(t, &a)
	if a.Instances != 3 || a.Version != 2 || a.Generation != 2 {
		t.Errorf("updated app = %+v", a)
	}

	upd["instances"] = 5
	r = e.request(http.MethodPut, "/v1/spaces/prod/apps/web", upd, "If-Match", `"1"`)
	expect(t, "stale If-Match", r, 409, "")
	if ae := r.apiError(t); ae.Code != paved.CodeConflict {
		t.Errorf("code %q", ae.Code)
	}
	var cur paved.App
	e.request(http.MethodGet, "/v1/spaces/prod/apps/web", nil).decode(t, &cur)
	if cur.Instances != 3 || cur.Version != 2 {
		t.Errorf("a stale update changed the app: %+v", cur)
	}

	r = e.request(http.MethodPut, "/v1/spaces/prod/apps/web", upd, "If-Match", `W/"2"`)
	expect(t, "weak If-Match", r, 200, "")
	if got := r.header.Get("ETag"); got != `"3"` {
		t.Errorf("ETag = %q, want \"3\"", got)
	}
	r = e.request(http.MethodPut, "/v1/spaces/prod/apps/web", upd) // unconditional
	expect(t, "no If-Match", r, 200, "")
	if got := r.header.Get("ETag"); got != `"4"` {
		t.Errorf("ETag = %q, want \"4\"", got)
	}
	expect(t, "garbage If-Match", e.request(http.MethodPut, "/v1/spaces/prod/apps/web", upd, "If-Match", "abc"), 400, "If-Match")

	// No name in the body means this app; another name is a rename.
	r = e.request(http.MethodPut, "/v1/spaces/prod/apps/web", `{"command":"./other"}`)
	expect(t, "update without name", r, 200, "")
	r = e.request(http.MethodPut, "/v1/spaces/prod/apps/web", app("api"))
	expect(t, "rename app", r, 422, "name")
	expect(t, "update missing app", e.request(http.MethodPut, "/v1/spaces/prod/apps/nope", app("nope")), 404, "")
	expect(t, "invalid update", e.request(http.MethodPut, "/v1/spaces/prod/apps/web", `{"name":"web"}`), 422, "command")

	// Spaces follow the same rules.
	r = e.request(http.MethodPut, "/v1/spaces/prod", `{"name":"prod","labels":{"a":"b"}}`, "If-Match", `"1"`)
	expect(t, "space fresh If-Match", r, 200, "")
	if got := r.header.Get("ETag"); got != `"2"` {
		t.Errorf("space ETag = %q", got)
	}
	expect(t, "space stale If-Match", e.request(http.MethodPut, "/v1/spaces/prod", `{"name":"prod"}`, "If-Match", `"1"`), 409, "")
	expect(t, "space rename", e.request(http.MethodPut, "/v1/spaces/prod", `{"name":"staging"}`), 422, "name")
	expect(t, "space missing", e.request(http.MethodPut, "/v1/spaces/nope", `{}`), 404, "")
}

func TestDeletes(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", app("web"))

	r := e.request(http.MethodDelete, "/v1/spaces/prod", nil)
	expect(t, "delete space with apps", r, 409, "")
	if !strings.Contains(r.apiError(t).Message, "apps") {
		t.Errorf("message %q does not say why", r.apiError(t).Message)
	}
	expect(t, "delete app stale", e.request(http.MethodDelete, "/v1/spaces/prod/apps/web", nil, "If-Match", `"7"`), 409, "")
	r = e.request(http.MethodDelete, "/v1/spaces/prod/apps/web", nil, "If-Match", `"1"`)
	expect(t, "delete app", r, 204, "")
	if len(r.body) != 0 {
		t.Errorf("204 with body %q", r.body)
	}
	expect(t, "delete app again", e.request(http.MethodDelete, "/v1/spaces/prod/apps/web", nil), 404, "")
	expect(t, "delete space stale", e.request(http.MethodDelete, "/v1/spaces/prod", nil, "If-Match", `"9"`), 409, "")
	expect(t, "delete space", e.request(http.MethodDelete, "/v1/spaces/prod", nil), 204, "")
	expect(t, "GET deleted space", e.request(http.MethodGet, "/v1/spaces/prod", nil), 404, "")
	expect(t, "delete space again", e.request(http.MethodDelete, "/v1/spaces/prod", nil), 404, "")
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"name":"prod","labels":{"a":"b"}}`
	first := e.request(http.MethodPost, "/v1/spaces", body, "Idempotency-Key", "k-1")
	expect(t, "first", first, 201, "")
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first answer marked as replayed")
	}
	second := e.request(http.MethodPost, "/v1/spaces", body, "Idempotency-Key", "k-1")
	expect(t, "replay", second, 201, "")
	if second.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed = %q, want true", second.header.Get("Idempotent-Replayed"))
	}
	if !bytes.Equal(first.body, second.body) {
		t.Errorf("replayed body differs:\n%s\nvs\n%s", first.body, second.body)
	}
	// Without the key the same POST is a conflict: the key really replayed.
	expect(t, "no key", e.request(http.MethodPost, "/v1/spaces", body), 409, "name")
	if got := eventActions(t, e, ""); fmt.Sprint(got) != "[space.create space/prod]" {
		t.Errorf("events = %v, want one space.create", got)
	}

	r := e.request(http.MethodPost, "/v1/spaces/prod/apps", app("web"), "Idempotency-Key", "k-1")
	expect(t, "same key, other path", r, 422, "Idempotency-Key")
	if msg := r.apiError(t).Message; !strings.Contains(msg, "/v1/spaces") {
		t.Errorf("message %q does not say where the key was used", msg)
	}
	expect(t, "key too long", e.request(http.MethodPost, "/v1/spaces", `{"name":"x"}`, "Idempotency-Key", strings.Repeat("k", 256)), 400, "Idempotency-Key")

	// App creates replay too, and the deployer hears of the app once.
	a1 := e.request(http.MethodPost, "/v1/spaces/prod/apps", app("web", "web.example.com"), "Idempotency-Key", "k-2")
	expect(t, "app create", a1, 201, "")
	a2 := e.request(http.MethodPost, "/v1/spaces/prod/apps", app("web", "web.example.com"), "Idempotency-Key", "k-2")
	expect(t, "app replay", a2, 201, "")
	if a2.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(a1.body, a2.body) {
		t.Errorf("app create not replayed: %s", a2.body)
	}
	if got := e.dep.calls(); fmt.Sprint(got) != "[prod/web]" {
		t.Errorf("Notify calls = %v, want one for prod/web", got)
	}
	// A refused create is not remembered: the key can be used once it is fixed.
	expect(t, "refused with key", e.request(http.MethodPost, "/v1/spaces", `{"name":"Bad"}`, "Idempotency-Key", "k-3"), 422, "name")
	expect(t, "fixed with same key", e.request(http.MethodPost, "/v1/spaces", `{"name":"good"}`, "Idempotency-Key", "k-3"), 201, "")
}

// A replayed answer should be indistinguishable from the first one.
func TestIdempotentReplayKeepsHeaders(t *testing.T) {
	e := newEnv(t, nil)
	first := e.request(http.MethodPost, "/v1/spaces", `{"name":"prod"}`, "Idempotency-Key", "k")
	second := e.request(http.MethodPost, "/v1/spaces", `{"name":"prod"}`, "Idempotency-Key", "k")
	for _, h := range []string{"ETag", "Location"} {
		if first.header.Get(h) == "" || second.header.Get(h) != first.header.Get(h) {
			t.Errorf("%s: first %q, replay %q", h, first.header.Get(h), second.header.Get(h))
		}
	}
}

func TestSourceUpload(t *testing.T) {
	e := newEnv(t, nil)
	data := makeTarGz(t, tarEntry{name: "app/", dir: true}, tarEntry{name: "app/server.sh", body: "#!/bin/sh\necho hi\n"})
	digest := sha(data)
	path := "/v1/sources/" + digest
	oct := []string{"Content-Type", "application/octet-stream"}

	r := e.request(http.MethodHead, path, nil)
	if r.status != 404 {
		t.Fatalf("HEAD unknown source = %d, want 404", r.status)
	}
	expect(t, "GET unknown source", e.request(http.MethodGet, path, nil), 404, "")
	expect(t, "GET bad digest", e.request(http.MethodGet, "/v1/sources/xyz", nil), 400, "digest")

	// Some other bytes under this digest.
	other := makeTarGz(t, tarEntry{name: "x", body: "other"})
	r = e.request(http.MethodPut, path, other, oct...)
	expect(t, "digest mismatch", r, 400, "digest")
	if msg := r.apiError(t).Message; !strings.Contains(msg, sha(other)) {
		t.Errorf("message %q does not give the real sha256", msg)
	}
	if r := e.request(http.MethodHead, path, nil); r.status != 404 {
		t.Errorf("HEAD after a mismatched upload = %d", r.status)
	}

	r = e.request(http.MethodPut, path, data, oct...)
	expect(t, "upload", r, 201, "")
	var src paved.Source
	r.decode(t, &src)
	if src.Digest != digest || src.Size != int64(len(data)) {
		t.Errorf("source = %+v", src)
	}
	stored, err := os.ReadFile(e.stager.SourcePath(digest))
	if err != nil || !bytes.Equal(stored, data) {
		t.Errorf("stored archive: %d bytes, %v", len(stored), err)
	}
	if r := e.request(http.MethodHead, path, nil); r.status != 200 {
		t.Errorf("HEAD after upload = %d", r.status)
	}
	expect(t, "re-upload", e.request(http.MethodPut, path, data, oct...), 200, "")

	// The uploaded source can now be used.
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", `{"name":"web","command":"./server.sh","source":"`+digest+`"}`)

	if got := eventActions(t, e, ""); len(got) == 0 || got[0] != "source.upload source/"+digest {
		t.Errorf("events = %v, want source.upload first and once", got)
	} else if n := strings.Count(fmt.Sprint(got), "source.upload"); n != 1 {
		t.Errorf("%d source.upload events, want 1", n)
	}
	assertOnlySource(t, e, digest)
}

// assertOnlySource checks that the sources dir holds exactly the named
// archives: no temporary files or scratch dirs were left behind.
func assertOnlySource(t *testing.T, e *env, digests ...string) {
	t.Helper()
	entries, err := os.ReadDir(e.stager.SourcesDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if fmt.Sprint(names) != fmt.Sprint(digests) {
		t.Errorf("sources dir holds %v, want %v", names, digests)
	}
}

func TestSourceUploadRefusals(t *testing.T) {
	randomBytes := make([]byte, 8<<10)
	for i := range randomBytes {
		randomBytes[i] = byte(rand.N(256))
	}
	big := makeTarGz(t, tarEntry{name: "noise.bin", body: string(randomBytes)}) // incompressible, > 4 KiB
	tests := []struct {
		name    string
		data    []byte
		status  int
		field   string
		message string
	}{
		{"path traversal", makeTarGz(t, tarEntry{name: "ok.txt", body: "fine"}, tarEntry{name: "../evil", body: "pwned"}), 422, "source", "../evil"},
		{"absolute path", makeTarGz(t, tarEntry{name: "/etc/evil", body: "pwned"}), 422, "source", "/etc/evil"},
		{"not an archive", []byte("just some text, not a tarball at all"), 422, "source", ""},
		{"corrupt gzip", []byte{0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03}, 422, "source", ""},
		{"too large", big, 413, "source", ""},
	}
	e := newEnv(t, func(o *api.Options) { o.MaxSourceBytes = 4 << 10 })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			digest := sha(tc.data)
			r := e.request(http.MethodPut, "/v1/sources/"+digest, tc.data, "Content-Type", "application/octet-stream")
			expect(t, tc.name, r, tc.status, tc.field)
			if tc.message != "" && !strings.Contains(r.apiError(t).Message, tc.message) {
				t.Errorf("message %q does not name %q", r.apiError(t).Message, tc.message)
			}
			if r := e.request(http.MethodHead, "/v1/sources/"+digest, nil); r.status != 404 {
				t.Errorf("HEAD after a refused upload = %d, want 404", r.status)
			}
			assertOnlySource(t, e)
		})
	}
	// Without a Content-Length the cap is enforced while reading.
	t.Run("too large, chunked", func(t *testing.T) {
		digest := sha(big)
		r := e.request(http.MethodPut, "/v1/sources/"+digest, io.MultiReader(bytes.NewReader(big)), "Content-Type", "application/octet-stream")
		expect(t, "chunked", r, 413, "source")
		if r := e.request(http.MethodHead, "/v1/sources/"+digest, nil); r.status != 404 {
			t.Errorf("HEAD after a refused upload = %d, want 404", r.status)
		}
		assertOnlySource(t, e)
	})
	if got := eventActions(t, e, ""); len(got) != 0 {
		t.Errorf("refused uploads appended events: %v", got)
	}
}

func TestEventsEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", app("web"))
	expect(t, "update", e.request(http.MethodPut, "/v1/spaces/prod/apps/web", app("web")), 200, "")
	expect(t, "delete", e.request(http.MethodDelete, "/v1/spaces/prod/apps/web", nil), 204, "")

	want := []string{"space.create space/prod", "app.create app/prod/web", "app.update app/prod/web", "app.delete app/prod/web"}
	if got := eventActions(t, e, ""); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	var all struct{ Events []paved.Event }
	e.request(http.MethodGet, "/v1/events", nil).decode(t, &all)
	for _, ev := range all.Events {
		if ev.Actor == "" || ev.ID == 0 || ev.Time.IsZero() {
			t.Errorf("event %+v lacks actor, id or time", ev)
		}
	}
	if got := eventActions(t, e, "?limit=2"); fmt.Sprint(got) != fmt.Sprint(want[:2]) {
		t.Errorf("limit=2: %v", got)
	}
	if got := eventActions(t, e, fmt.Sprintf("?after=%d&limit=1", all.Events[1].ID)); fmt.Sprint(got) != fmt.Sprint(want[2:3]) {
		t.Errorf("after=2nd&limit=1: %v", got)
	}
	expect(t, "bad after", e.request(http.MethodGet, "/v1/events?after=x", nil), 400, "after")
	expect(t, "bad limit", e.request(http.MethodGet, "/v1/events?limit=-1", nil), 400, "limit")
}

func TestUnknownEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	for _, req := range [][2]string{{"GET", "/v1/nope"}, {"POST", "/v1/spaces/prod/apps/web/restart"}, {"GET", "/v1/spaces/a/b/c/d/e/f"}} {
		r := e.request(req[0], req[1], nil)
		expect(t, req[0]+" "+req[1], r, 404, "")
		if ae := r.apiError(t); ae.Code != paved.CodeNotFound || !strings.Contains(ae.Message, req[1]) {
			t.Errorf("%s: %+v", req[1], ae)
		}
	}
	// Unknown endpoints still need the token.
	expect(t, "unknown without token", e.request(http.MethodGet, "/v1/nope", nil, "Authorization", ""), 401, "")
}

func TestDeployerNotified(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", app("web"))
	e.mustCreate("/v1/spaces/prod/apps", app("api"))
	expect(t, "update", e.request(http.MethodPut, "/v1/spaces/prod/apps/web", app("web")), 200, "")
	// Refused changes do not wake the deployer.
	expect(t, "stale update", e.request(http.MethodPut, "/v1/spaces/prod/apps/web", app("web"), "If-Match", `"1"`), 409, "")
	expect(t, "invalid update", e.request(http.MethodPut, "/v1/spaces/prod/apps/api", `{"name":"api"}`), 422, "command")
	expect(t, "stale delete", e.request(http.MethodDelete, "/v1/spaces/prod/apps/api", nil, "If-Match", `"5"`), 409, "")
	expect(t, "delete", e.request(http.MethodDelete, "/v1/spaces/prod/apps/web", nil), 204, "")
	// Reads and space changes do not either.
	e.request(http.MethodGet, "/v1/spaces/prod/apps/api", nil)
	expect(t, "space update", e.request(http.MethodPut, "/v1/spaces/prod", `{"name":"prod"}`), 200, "")

	want := []string{"prod/web", "prod/api", "prod/web", "prod/web"}
	if got := e.dep.calls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Notify calls = %v, want %v", got, want)
	}
}

func TestBuildsAndReleasesEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", app("web"))
	b, err := e.store.CreateBuild(ctx, "t", paved.Build{Space: "prod", App: "web", Command: "make"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateRelease(ctx, "t", "prod", "web", paved.ReleaseConfig{Droplet: "d"}); err != nil {
		t.Fatal(err)
	}
	var builds struct{ Builds []paved.Build }
	e.request(http.MethodGet, "/v1/spaces/prod/apps/web/builds", nil).decode(t, &builds)
	if len(builds.Builds) != 1 || builds.Builds[0].ID != b.ID {
		t.Errorf("builds = %+v", builds)
	}
	r := e.request(http.MethodGet, fmt.Sprintf("/v1/spaces/prod/apps/web/builds/%d", b.ID), nil)
	expect(t, "GET build", r, 200, "")
	expect(t, "GET missing build", e.request(http.MethodGet, "/v1/spaces/prod/apps/web/builds/999", nil), 404, "")
	expect(t, "GET build bad id", e.request(http.MethodGet, "/v1/spaces/prod/apps/web/builds/x", nil), 400, "id")
	r = e.request(http.MethodGet, fmt.Sprintf("/v1/spaces/prod/apps/web/builds/%d/log", b.ID), nil)
	expect(t, "GET build log", r, 200, "")
	var rels struct{ Releases []paved.Release }
	e.request(http.MethodGet, "/v1/spaces/prod/apps/web/releases", nil).decode(t, &rels)
	if len(rels.Releases) != 1 || rels.Releases[0].Number != 1 {
		t.Errorf("releases = %+v", rels)
	}
	expect(t, "releases of missing app", e.request(http.MethodGet, "/v1/spaces/prod/apps/nope/releases", nil), 404, "")
}

// The API owns the whole listener, so every answer, even outside /v1,
// should be the JSON error envelope clients know how to read.
func TestNotFoundOutsideV1IsJSON(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/", "/nope", "/v2/spaces"} {
		r := e.request(http.MethodGet, p, nil)
		expect(t, "GET "+p, r, 404, "")
		if ae := r.apiError(t); ae.Code != paved.CodeNotFound {
			t.Errorf("GET %s: code %q", p, ae.Code)
		}
	}
}

// Error fields are JSON paths ("health_check.type", "routes[0].host"); JSON
// decoding errors in nested objects should name them the same way.
func TestNestedDecodeErrorsNameTheJSONPath(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	r := e.request(http.MethodPost, "/v1/spaces/prod/apps", `{"name":"web","command":"x","health_check":{"type":"http","bogus":1}}`)
	expect(t, "nested unknown field", r, 400, "health_check.bogus")
	r = e.request(http.MethodPost, "/v1/spaces", `[]`)
	expect(t, "array body", r, 400, "")
	if msg := r.apiError(t).Message; strings.HasPrefix(msg, " ") || !strings.Contains(msg, "object") {
		t.Errorf("message %q does not say the body must be a JSON object", msg)
	}
}
