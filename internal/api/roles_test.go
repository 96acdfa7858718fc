package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/api"
	"github.com/pavedroad/terraform-provider-paved/internal/environment"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// nopPipelines is a pipeline engine that does nothing.
type nopPipelines struct{}

func (nopPipelines) Notify(int64)                                     {}
func (nopPipelines) Check(_ context.Context, _ int64, _ string) error { return nil }
func (nopPipelines) LogPath(store.JobBuild) string                    { return "" }
func (nopPipelines) Stopped(context.Context, int64) error             { return nil }

func newRolesEnv(t *testing.T, tweak func(*api.Options)) *env {
	var hooks atomic.Int64
	return newEnv(t, func(o *api.Options) {
		o.Pipelines = nopPipelines{}
		o.NewToken = func() string { return fmt.Sprintf("hook-%d", hooks.Add(1)) }
		o.Environments = &environment.Manager{Store: o.Store, Deployer: o.Deployer}
		if tweak != nil {
			tweak(o)
		}
	})
}

// createToken makes a token as admin and returns its id and secret.
func (e *env) createToken(name string, role paved.Role, space string) (id, secret string) {
	e.t.Helper()
	r := e.mustCreate("/v1/tokens", paved.TokenSpec{Name: name, Role: role, Space: space})
	var tok paved.Token
	r.decode(e.t, &tok)
	if tok.Secret == "" || !strings.HasPrefix(tok.ID, "tok_") {
		e.t.Fatalf("created token %+v", tok)
	}
	return tok.ID, tok.Secret
}

func bearer(secret string) []string { return []string{"Authorization", "Bearer " + secret} }

func pipelineSpec(name string, extra ...paved.Step) paved.PipelineSpec {
	plan := append([]paved.Step{{Get: "repo"}, {Task: "t", Run: "true"}}, extra...)
	return paved.PipelineSpec{Name: name,
		Sources: []paved.SourceSpec{{Name: "repo", Type: paved.SourceGit, URI: "/nonexistent/repo.git"}},
		Jobs:    []paved.JobSpec{{Name: "j", Plan: plan}}}
}

// fixture is two spaces with the same objects in each: an app and its
// build, a pipeline and its build, and a deployment.
type fixture struct {
	source                      string
	archive                     []byte
	build, deployment, jobBuild map[string]int64 // by space
}

func setupSpaces(t *testing.T, e *env) fixture {
	t.Helper()
	ctx := context.Background()
	fx := fixture{build: map[string]int64{}, deployment: map[string]int64{}, jobBuild: map[string]int64{}}
	fx.archive = makeTarGz(t, tarEntry{name: "server", body: "#!/bin/sh\n"})
	fx.source = sha(fx.archive)
	expect(t, "upload", e.request(http.MethodPut, "/v1/sources/"+fx.source, fx.archive, "Content-Type", "application/octet-stream"), 201, "")
	for _, sp := range []string{"shop", "other"} {
		e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: sp})
		e.mustCreate("/v1/spaces/"+sp+"/apps", app("web", "web."+sp+".test"))
		expect(t, "set pipeline", e.request(http.MethodPut, "/v1/spaces/"+sp+"/pipelines/ci", pipelineSpec("ci")), 200, "")
		d, err := e.store.CreateDeployment(ctx, "admin", store.Deployment{Deployment: paved.Deployment{Space: sp, App: "web", Release: 1, Status: "running"}})
		if err != nil {
			t.Fatal(err)
		}
		fx.deployment[sp] = d.ID
		b, err := e.store.CreateBuild(ctx, "admin", paved.Build{Space: sp, App: "web", Source: fx.source, Command: "true"})
		if err != nil {
			t.Fatal(err)
		}
		fx.build[sp] = b.ID
		p, err := e.store.GetPipeline(ctx, sp, "ci")
		if err != nil {
			t.Fatal(err)
		}
		jb, _, err := e.store.CreateJobBuild(ctx, p.ID, "j", nil)
		if err != nil {
			t.Fatal(err)
		}
		fx.jobBuild[sp] = jb.ID
	}
	return fx
}

type call struct {
	method, path string
	body         any
}

func (c call) String() string { return c.method + " " + c.path }

// TestRoleMatrix: each role can do exactly what it should. Allowed means
// the answer is neither 401 nor 403 (a 404 or 422 is the handler's, after
// authorization passed); denied means 403 forbidden with a sentence naming
// the role, and an auth.deny event.
func TestRoleMatrix(t *testing.T) {
	e := newRolesEnv(t, nil)
	fx := setupSpaces(t, e)
	tokens := map[paved.Role]string{}
	for _, role := range []paved.Role{paved.RoleSpaceDeveloper, paved.RoleSpaceAuditor, paved.RolePipelineOperator} {
		_, tokens[role] = e.createToken(string(role)+"-shop", role, "shop")
	}
	_, tokens[paved.RoleAdmin] = e.createToken("second-admin", paved.RoleAdmin, "")

	// Reads of a space's objects, for a space.
	reads := func(sp string) []call {
		base := "/v1/spaces/" + sp
		return []call{
			{"GET", base, nil},
			{"HEAD", base, nil},
			{"GET", base + "/apps", nil},
			{"GET", base + "/apps/web", nil},
			{"GET", base + "/apps/web/releases", nil},
			{"GET", base + "/apps/web/builds", nil},
			{"GET", base + "/apps/web/builds/" + strconv.FormatInt(fx.build[sp], 10), nil},
			{"GET", base + "/apps/web/builds/" + strconv.FormatInt(fx.build[sp], 10) + "/log", nil},
			{"GET", base + "/apps/web/deployments", nil},
			{"GET", base + "/apps/web/logs?tail=1", nil},
			{"GET", base + "/pipelines", nil},
			{"GET", base + "/pipelines/ci", nil},
			{"GET", base + "/pipelines/ci/builds", nil},
			{"GET", base + "/pipelines/ci/jobs/j/builds", nil},
			{"GET", base + "/pipelines/ci/sources/repo/versions", nil},
			{"GET", base + "/pipelines/ci/timings", nil},
			{"GET", base + "/snapshots", nil},
			{"GET", "/v1/deployments/" + strconv.FormatInt(fx.deployment[sp], 10), nil},
			{"GET", "/v1/job-builds/" + strconv.FormatInt(fx.jobBuild[sp], 10), nil},
			{"GET", "/v1/job-builds/" + strconv.FormatInt(fx.jobBuild[sp], 10) + "/log", nil},
		}
	}
	appWrites := func(sp string) []call {
		base := "/v1/spaces/" + sp
		return []call{
			{"POST", base + "/apps", app("api")},
			{"PUT", base + "/apps/web", app("web", "web."+sp+".test")},
			{"DELETE", base + "/apps/ghost", nil},
			{"POST", base + "/apps/web/rollback", nil},
			{"POST", base + "/restore", map[string]any{"snapshot": 99}},
		}
	}
	pipelineWrites := func(sp string) []call {
		base := "/v1/spaces/" + sp
		return []call{
			{"PUT", base + "/pipelines/ci", pipelineSpec("ci")},
			{"PUT", base + "/pipelines/cd", pipelineSpec("cd")},
			{"DELETE", base + "/pipelines/cd", nil},
			{"POST", base + "/pipelines/ci/sources/repo/check", nil},
		}
	}
	spaceWrites := []call{
		{"PUT", "/v1/spaces/shop", paved.SpaceSpec{Name: "shop", Labels: map[string]string{"a": "b"}}},
		{"DELETE", "/v1/spaces/shop", nil},
	}
	cellWide := []call{
		{"GET", "/v1/spaces", nil},
		{"POST", "/v1/spaces", paved.SpaceSpec{Name: "new"}},
		{"GET", "/v1/apps", nil},
		{"GET", "/v1/events", nil},
		{"GET", "/v1/environments", nil},
		{"POST", "/v1/environments", map[string]any{"name": "pr-1", "from_space": "shop"}},
		{"GET", "/v1/environments/pr-1", nil},
		{"DELETE", "/v1/environments/pr-1", nil},
		{"GET", "/v1/replica-sets", nil},
		{"PUT", "/v1/replica-sets/web", map[string]any{"space": "shop", "app": "web", "global_host": "web.global.test"}},
		{"DELETE", "/v1/replica-sets/web", nil},
		{"GET", "/v1/tokens", nil},
		{"POST", "/v1/tokens", paved.TokenSpec{Name: "x", Role: paved.RoleAdmin}},
		{"GET", "/v1/tokens/tok_0000", nil},
		{"DELETE", "/v1/tokens/tok_0000", nil},
	}
	sources := []call{
		{"HEAD", "/v1/sources/" + fx.source, nil},
		{"GET", "/v1/sources/" + fx.source, nil},
		{"PUT", "/v1/sources/" + fx.source, fx.archive},
	}
	// A pipeline may not clone another space in an environment step.
	cloneOther := call{"PUT", "/v1/spaces/shop/pipelines/preview", pipelineSpec("preview",
		paved.Step{Environment: "pr", FromSpace: "other", App: "web", Source: "repo", TTL: paved.Duration(time.Minute)})}
	cloneOwn := call{"PUT", "/v1/spaces/shop/pipelines/preview", pipelineSpec("preview",
		paved.Step{Environment: "pr", FromSpace: "shop", App: "web", Source: "repo", TTL: paved.Duration(time.Minute)})}

	cat := func(lists ...[]call) []call {
		var out []call
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	matrix := []struct {
		role            paved.Role
		allowed, denied []call
	}{
		{paved.RoleSpaceAuditor,
			reads("shop"),
			cat(reads("other"), appWrites("shop"), pipelineWrites("shop"), appWrites("other"), pipelineWrites("other"),
				spaceWrites, cellWide, sources, []call{cloneOwn})},
		{paved.RolePipelineOperator,
			cat(reads("shop"), pipelineWrites("shop"), []call{cloneOwn}),
			cat(reads("other"), appWrites("shop"), appWrites("other"), pipelineWrites("other"), spaceWrites, cellWide, sources,
				[]call{cloneOther})},
		{paved.RoleSpaceDeveloper,
			cat(reads("shop"), appWrites("shop"), pipelineWrites("shop"), sources, []call{cloneOwn}),
			cat(reads("other"), appWrites("other"), pipelineWrites("other"), spaceWrites, cellWide, []call{cloneOther})},
		// A stored admin token: everything.
		{paved.RoleAdmin,
			cat(reads("shop"), reads("other"), appWrites("shop"), pipelineWrites("other"), sources, spaceWrites, cellWide,
				[]call{cloneOther}),
			nil},
	}
	denials := 0
	for _, m := range matrix {
		t.Run(string(m.role), func(t *testing.T) {
			for _, c := range m.allowed {
				r := e.request(c.method, c.path, c.body, bearer(tokens[m.role])...)
				if r.status == 401 || r.status == 403 {
					t.Errorf("%s %s: %d %s, want allowed", m.role, c, r.status, r.body)
				}
			}
			for _, c := range m.denied {
				r := e.request(c.method, c.path, c.body, bearer(tokens[m.role])...)
				if r.status != 403 {
					t.Errorf("%s %s: %d %s, want 403", m.role, c, r.status, r.body)
					continue
				}
				denials++
				if c.method == "HEAD" {
					continue // no body
				}
				ae := r.apiError(t)
				if ae.Code != paved.CodeForbidden || !strings.Contains(ae.Message, string(m.role)) {
					t.Errorf("%s %s: %+v, want forbidden naming the role", m.role, c, ae)
				}
			}
		})
	}

	// Every denial is in the audit trail: who, method and path.
	evs, err := e.store.ListEvents(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var denied []paved.Event
	for _, ev := range evs {
		if ev.Action == "auth.deny" {
			denied = append(denied, ev)
		}
	}
	if len(denied) != denials {
		t.Errorf("%d auth.deny events for %d denied requests", len(denied), denials)
	}
	for _, ev := range denied {
		if !strings.Contains(ev.Actor, "-shop (tok_") || !strings.HasPrefix(ev.Object, "token/tok_") ||
			!strings.Contains(ev.Detail, " /v1/") {
			t.Errorf("auth.deny event without who, method and path: %+v", ev)
		}
	}
	// The denied writes changed nothing.
	if _, err := e.store.GetApp(context.Background(), "other", "api"); err == nil {
		t.Error("a denied POST created an app in another space")
	}
	// A route taken in another space is refused without naming that space's app.
	r := e.request(http.MethodPost, "/v1/spaces/shop/apps", app("dup", "web.other.test"), bearer(tokens[paved.RoleSpaceDeveloper])...)
	expect(t, "route of another space", r, 409, "routes[0]")
	if ae := r.apiError(t); strings.Contains(ae.Message, "other/web") {
		t.Errorf("a space token learns another space's app: %q", ae.Message)
	}
	if denials < 100 {
		t.Errorf("only %d denials: the matrix is thinner than it should be", denials)
	}
}

// TestTokensAPI: a token's secret is in the answer to its creation only;
// reads, the store and the audit trail never show it.
func TestTokensAPI(t *testing.T) {
	e := newRolesEnv(t, nil)
	e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: "shop"})
	secret := strings.Repeat("s3cr3t-", 6)
	r := e.mustCreate("/v1/tokens", paved.TokenSpec{Name: "ci", Role: paved.RoleSpaceDeveloper, Space: "shop", Secret: secret})
	var tok paved.Token
	r.decode(t, &tok)
	if tok.Secret != secret || tok.Role != paved.RoleSpaceDeveloper || tok.Space != "shop" || tok.CreatedBy != "admin" || tok.CreatedAt.IsZero() {
		t.Fatalf("created %+v", tok)
	}
	if loc := r.header.Get("Location"); loc != "/v1/tokens/"+tok.ID {
		t.Errorf("Location %q", loc)
	}
	_, generated := e.createToken("gen", paved.RoleSpaceAuditor, "shop")
	if len(generated) < paved.MinTokenSecret {
		t.Errorf("generated secret %q is short", generated)
	}

	hash := func(s string) string { return sha([]byte(s)) }
	for _, path := range []string{"/v1/tokens", "/v1/tokens/" + tok.ID, "/v1/events"} {
		r := e.request(http.MethodGet, path, nil)
		expect(t, path, r, 200, "")
		for _, leak := range []string{secret, generated, hash(secret), hash(generated), `"secret"`, `"hash"`} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("GET %s shows %q: %s", path, leak, r.body)
			}
		}
	}
	var list struct{ Tokens []paved.Token }
	e.request(http.MethodGet, "/v1/tokens", nil).decode(t, &list)
	if len(list.Tokens) != 2 || list.Tokens[0].ID != tok.ID || list.Tokens[0].Name != "ci" {
		t.Errorf("list %+v", list.Tokens)
	}

	// The token works, and its changes are attributed to it.
	expect(t, "POST app as ci", e.request(http.MethodPost, "/v1/spaces/shop/apps", app("web"), bearer(secret)...), 201, "")
	evs, _ := e.store.ListEvents(context.Background(), 0, 1000)
	var actors []string
	for _, ev := range evs {
		if ev.Action == "app.create" {
			actors = append(actors, ev.Actor)
		}
	}
	if len(actors) != 1 || actors[0] != "ci ("+tok.ID+")" {
		t.Errorf("app.create actors %v, want the token's name and id", actors)
	}

	// Refusals at creation.
	for _, tc := range []struct {
		spec   paved.TokenSpec
		status int
		field  string
	}{
		{paved.TokenSpec{Name: "x", Role: "root"}, 422, "role"},
		{paved.TokenSpec{Name: "x", Role: paved.RoleSpaceAuditor}, 422, "space"},
		{paved.TokenSpec{Name: "x", Role: paved.RoleAdmin, Space: "shop"}, 422, "space"},
		{paved.TokenSpec{Name: "x", Role: paved.RoleSpaceAuditor, Space: "ghost"}, 422, "space"},
		{paved.TokenSpec{Name: "", Role: paved.RoleAdmin}, 422, "name"},
		{paved.TokenSpec{Name: "x", Role: paved.RoleAdmin, Secret: "short"}, 422, "secret"},
		{paved.TokenSpec{Name: "x", Role: paved.RoleAdmin, Secret: strings.Repeat("a b", 20)}, 422, "secret"},
		{paved.TokenSpec{Name: "x", Role: paved.RoleAdmin, Secret: secret}, 409, "secret"},
	} {
		r := e.request(http.MethodPost, "/v1/tokens", tc.spec)
		expect(t, fmt.Sprintf("create %+v", tc.spec), r, tc.status, tc.field)
	}
	expect(t, "unknown field", e.request(http.MethodPost, "/v1/tokens", `{"name":"x","role":"admin","hash":"x"}`), 400, "hash")
	expect(t, "idempotency key", e.request(http.MethodPost, "/v1/tokens", paved.TokenSpec{Name: "x", Role: paved.RoleAdmin},
		"Idempotency-Key", "k1"), 400, "Idempotency-Key")
	expect(t, "get unknown", e.request(http.MethodGet, "/v1/tokens/tok_nope", nil), 404, "")
	expect(t, "revoke unknown", e.request(http.MethodDelete, "/v1/tokens/tok_nope", nil), 404, "")

	// A revoke takes effect at once: the very next request is refused.
	expect(t, "ci before revoke", e.request(http.MethodGet, "/v1/spaces/shop/apps", nil, bearer(secret)...), 200, "")
	expect(t, "revoke", e.request(http.MethodDelete, "/v1/tokens/"+tok.ID, nil), 204, "")
	r = e.request(http.MethodGet, "/v1/spaces/shop/apps", nil, bearer(secret)...)
	expect(t, "ci after revoke", r, 401, "")
	if ae := r.apiError(t); !strings.Contains(ae.Message, "revoked") {
		t.Errorf("revoked token: %+v", ae)
	}
	var got paved.Token
	e.request(http.MethodGet, "/v1/tokens/"+tok.ID, nil).decode(t, &got)
	if got.RevokedAt == nil || got.Secret != "" {
		t.Errorf("revoked token reads %+v", got)
	}
	expect(t, "revoke again", e.request(http.MethodDelete, "/v1/tokens/"+tok.ID, nil), 204, "")

	// The audit trail has the creation and the revocation, never the secret.
	evs, _ = e.store.ListEvents(context.Background(), 0, 1000)
	counts := map[string]int{}
	for _, ev := range evs {
		counts[ev.Action]++
		if b, _ := json.Marshal(ev); strings.Contains(string(b), secret) || strings.Contains(string(b), generated) {
			t.Errorf("event %+v holds a secret", ev)
		}
	}
	if counts["token.create"] != 2 || counts["token.revoke"] != 1 || counts["auth.fail"] != 1 {
		t.Errorf("event counts %v, want 2 token.create, 1 token.revoke, 1 auth.fail", counts)
	}
}

// TestRateLimit: a token over its rate gets 429 rate_limited with
// Retry-After; another token has its own bucket.
func TestRateLimit(t *testing.T) {
	e := newRolesEnv(t, func(o *api.Options) { o.RateLimit = 1 }) // burst 2
	e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: "shop"})
	// The admin's bucket is empty after two requests; the third waits.
	var r response
	for range 3 {
		if r = e.request(http.MethodGet, "/v1/spaces", nil); r.status == 429 {
			break
		}
	}
	expect(t, "admin over the limit", r, 429, "")
	if ae := r.apiError(t); ae.Code != paved.CodeRateLimited {
		t.Errorf("code %q", ae.Code)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Health is public and not limited.
	expect(t, "health", e.request(http.MethodGet, "/v1/health", nil, "Authorization", ""), 200, "")

	// A token created earlier (on a fresh bucket) is not affected.
	time.Sleep(1100 * time.Millisecond)
	_, secret := e.createToken("dev", paved.RoleSpaceDeveloper, "shop")
	expect(t, "dev's first", e.request(http.MethodGet, "/v1/spaces/shop", nil, bearer(secret)...), 200, "")
	expect(t, "dev's second", e.request(http.MethodGet, "/v1/spaces/shop", nil, bearer(secret)...), 200, "")
	expect(t, "dev's third", e.request(http.MethodGet, "/v1/spaces/shop", nil, bearer(secret)...), 429, "")
}

// TestAuthFailureBackoff: five failed authentications within a minute make
// the address wait (429 with Retry-After), even with a good token.
func TestAuthFailureBackoff(t *testing.T) {
	e := newRolesEnv(t, nil)
	for i := range 5 {
		r := e.request(http.MethodGet, "/v1/spaces", nil, "Authorization", fmt.Sprintf("Bearer guess-%d", i))
		expect(t, "guess", r, 401, "")
	}
	r := e.request(http.MethodGet, "/v1/spaces", nil)
	expect(t, "after five failures", r, 429, "")
	if ae := r.apiError(t); ae.Code != paved.CodeRateLimited || !strings.Contains(ae.Message, "failed authentication") {
		t.Errorf("%+v", ae)
	}
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("first Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	// Health stays public.
	expect(t, "health", e.request(http.MethodGet, "/v1/health", nil, "Authorization", ""), 200, "")
	// Once the wait is over a good token gets through, and resets the count.
	time.Sleep(1100 * time.Millisecond)
	expect(t, "after the wait", e.request(http.MethodGet, "/v1/spaces", nil), 200, "")
	expect(t, "one more guess", e.request(http.MethodGet, "/v1/spaces", nil, "Authorization", "Bearer guess"), 401, "")
	expect(t, "not blocked after a reset", e.request(http.MethodGet, "/v1/spaces", nil), 200, "")
	// Failures are in the audit trail.
	evs, _ := e.store.ListEvents(context.Background(), 0, 1000)
	n := 0
	for _, ev := range evs {
		if ev.Action == "auth.fail" {
			n++
		}
	}
	if n != 6 {
		t.Errorf("%d auth.fail events, want 6", n)
	}
}

// TestWebhookFailuresBackOff: wrong webhook tokens count as failed
// authentications too.
func TestWebhookFailuresBackOff(t *testing.T) {
	e := newRolesEnv(t, nil)
	e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: "shop"})
	r := e.request(http.MethodPut, "/v1/spaces/shop/pipelines/ci", pipelineSpec("ci"))
	expect(t, "set pipeline", r, 200, "")
	var p paved.Pipeline
	r.decode(t, &p)
	hook := p.Webhooks["repo"]
	call := func(token string) response {
		return e.request(http.MethodPost, hook.Path, nil, "Authorization", "", api.WebhookHeader, token)
	}
	expect(t, "right webhook token", call(hook.Token), 204, "")
	for range 5 {
		expect(t, "wrong webhook token", call("wrong"), 401, "")
	}
	r = call(hook.Token)
	expect(t, "after five failures", r, 429, "")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}
