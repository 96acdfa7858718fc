package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestTokenExpiry: a token created with a ttl works until it expires, is
// refused with 401 from then on (as a revoked one), and can be renewed
// while it lives: from now, by the body's ttl or its own. A revoked or
// expired token, or one that never expires, is not renewed.
func TestTokenExpiry(t *testing.T) {
	e := newRolesEnv(t, nil)
	ctx := context.Background()
	e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: "shop"})
	secret := strings.Repeat("short-lived-", 4)
	start := time.Now()
	r := e.mustCreate("/v1/tokens", paved.TokenSpec{Name: "ci", Role: paved.RoleSpaceDeveloper, Space: "shop", Secret: secret,
		TTL: paved.Duration(15 * time.Minute)})
	if !strings.Contains(string(r.body), `"ttl": "15m0s"`) || !strings.Contains(string(r.body), `"expires_at"`) {
		t.Errorf("creation answer %s", r.body)
	}
	var tok paved.Token
	r.decode(t, &tok)
	within := func(what string, got *time.Time, from time.Time, d time.Duration) {
		t.Helper()
		if got == nil || got.Before(from.Add(d)) || got.After(time.Now().Add(d)) {
			t.Fatalf("%s: expires_at %v, want %s from %v", what, got, d, from)
		}
	}
	within("created", tok.ExpiresAt, start, 15*time.Minute)
	if tok.TTL.D() != 15*time.Minute {
		t.Errorf("created ttl %s", tok.TTL)
	}
	expect(t, "a living token", e.request(http.MethodGet, "/v1/spaces/shop/apps", nil, bearer(secret)...), 200, "")

	// Renewals: by the body's ttl, by the token's own (an empty body or {}).
	start = time.Now()
	r = e.request(http.MethodPost, "/v1/tokens/"+tok.ID+"/renew", paved.TokenRenewal{TTL: paved.Duration(time.Hour)})
	expect(t, "renew by 1h", r, 200, "")
	var got paved.Token
	r.decode(t, &got)
	within("renewed by 1h", got.ExpiresAt, start, time.Hour)
	if got.TTL.D() != 15*time.Minute || got.Secret != "" {
		t.Errorf("renewed %+v: the token keeps its own ttl and never shows its secret", got)
	}
	for _, body := range []any{nil, "{}"} {
		start = time.Now()
		r = e.request(http.MethodPost, "/v1/tokens/"+tok.ID+"/renew", body)
		expect(t, "renew by its own ttl", r, 200, "")
		r.decode(t, &got)
		within("renewed by its own ttl", got.ExpiresAt, start, 15*time.Minute)
	}
	e.request(http.MethodGet, "/v1/tokens/"+tok.ID, nil).decode(t, &got)
	within("read", got.ExpiresAt, start, 15*time.Minute)

	// Out of bounds and malformed ttls.
	for _, tc := range []struct {
		what   string
		path   string
		body   any
		status int
		field  string
	}{
		{"create 30s", "/v1/tokens", paved.TokenSpec{Name: "x", Role: paved.RoleAdmin, TTL: paved.Duration(30 * time.Second)}, 422, "ttl"},
		{"create 721h", "/v1/tokens", paved.TokenSpec{Name: "x", Role: paved.RoleAdmin, TTL: paved.Duration(721 * time.Hour)}, 422, "ttl"},
		{"create garbage", "/v1/tokens", `{"name":"x","role":"admin","ttl":"soon"}`, 400, ""},
		{"renew 1s", "/v1/tokens/" + tok.ID + "/renew", `{"ttl":"1s"}`, 422, "ttl"},
		{"renew -1h", "/v1/tokens/" + tok.ID + "/renew", `{"ttl":"-1h"}`, 422, "ttl"},
		{"renew unknown field", "/v1/tokens/" + tok.ID + "/renew", `{"until":"1h"}`, 400, "until"},
		{"renew unknown token", "/v1/tokens/tok_nope/renew", nil, 404, ""},
	} {
		expect(t, tc.what, e.request(http.MethodPost, tc.path, tc.body), tc.status, tc.field)
	}

	// Only an admin renews: a token cannot extend its own life.
	expect(t, "renew by the token itself", e.request(http.MethodPost, "/v1/tokens/"+tok.ID+"/renew", nil, bearer(secret)...), 403, "")

	// Expiry: its lifetime over (the store's clock set back by an hour and
	// a minute at its last renewal), the token is refused at once.
	if _, err := e.store.RenewToken(ctx, "test", tok.ID, time.Hour, time.Now().Add(-time.Hour-time.Minute)); err != nil {
		t.Fatal(err)
	}
	r = e.request(http.MethodGet, "/v1/spaces/shop/apps", nil, bearer(secret)...)
	expect(t, "an expired token", r, 401, "")
	if ae := r.apiError(t); !strings.Contains(ae.Message, "expired") || !strings.Contains(ae.Message, tok.ID) {
		t.Errorf("expired token: %+v", ae)
	}
	if r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
	r = e.request(http.MethodPost, "/v1/tokens/"+tok.ID+"/renew", nil)
	expect(t, "renew an expired token", r, 409, "")
	if ae := r.apiError(t); !strings.Contains(ae.Message, "expired") {
		t.Errorf("renewing an expired token: %+v", ae)
	}

	// A revoked token and one without a ttl are not renewed either.
	live, _ := e.createToken("live", paved.RoleSpaceAuditor, "shop")
	r = e.request(http.MethodPost, "/v1/tokens/"+live+"/renew", nil)
	expect(t, "renew a token without ttl", r, 409, "")
	if ae := r.apiError(t); !strings.Contains(ae.Message, "never expires") {
		t.Errorf("renewing a token without ttl: %+v", ae)
	}
	r = e.mustCreate("/v1/tokens", paved.TokenSpec{Name: "gone", Role: paved.RoleAdmin, TTL: paved.Duration(time.Hour)})
	var gone paved.Token
	r.decode(t, &gone)
	expect(t, "revoke", e.request(http.MethodDelete, "/v1/tokens/"+gone.ID, nil), 204, "")
	r = e.request(http.MethodPost, "/v1/tokens/"+gone.ID+"/renew", nil)
	expect(t, "renew a revoked token", r, 409, "")
	if ae := r.apiError(t); !strings.Contains(ae.Message, "revoked") {
		t.Errorf("renewing a revoked token: %+v", ae)
	}
	expect(t, "a revoked token stays refused", e.request(http.MethodGet, "/v1/tokens", nil, bearer(gone.Secret)...), 401, "")

	// The audit trail: every renewal (the store's own included), never a
	// refused one, and the refusals of the expired and the revoked token.
	evs, _ := e.store.ListEvents(ctx, 0, 1000)
	counts := map[string]int{}
	for _, ev := range evs {
		counts[ev.Action]++
		if ev.Action == "auth.fail" && !strings.Contains(ev.Detail, "expired at") && !strings.Contains(ev.Detail, "was revoked") {
			t.Errorf("auth.fail %+v", ev)
		}
	}
	if counts["token.renew"] != 4 || counts["auth.fail"] != 2 {
		t.Errorf("event counts %v, want 4 token.renew, 2 auth.fail", counts)
	}
}
