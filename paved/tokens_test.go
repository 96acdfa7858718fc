package paved_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestTokenSpecValidate(t *testing.T) {
	secret := strings.Repeat("x", paved.MinTokenSecret)
	tests := []struct {
		spec  paved.TokenSpec
		field string
	}{
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin}, ""},
		{paved.TokenSpec{Name: "ci@example.com", Role: paved.RoleSpaceDeveloper, Space: "shop", Secret: secret}, ""},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleSpaceAuditor, Space: "shop"}, ""},
		{paved.TokenSpec{Name: "ci", Role: paved.RolePipelineOperator, Space: "shop"}, ""},
		{paved.TokenSpec{Name: "", Role: paved.RoleAdmin}, "name"},
		{paved.TokenSpec{Name: "has space", Role: paved.RoleAdmin}, "name"},
		{paved.TokenSpec{Name: "ci", Role: "root"}, "role"},
		{paved.TokenSpec{Name: "ci", Role: ""}, "role"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, Space: "shop"}, "space"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleSpaceDeveloper}, "space"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleSpaceAuditor, Space: "Shop!"}, "space"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, Secret: secret[1:]}, "secret"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, Secret: secret + " "}, "secret"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, Secret: secret + "é"}, "secret"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, Secret: strings.Repeat("x", paved.MaxTokenSecret+1)}, "secret"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, TTL: paved.Duration(paved.MinTokenTTL)}, ""},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleSpaceDeveloper, Space: "shop", TTL: paved.Duration(15 * time.Minute)}, ""},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, TTL: paved.Duration(paved.MaxTokenTTL)}, ""},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, TTL: paved.Duration(paved.MinTokenTTL - time.Second)}, "ttl"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, TTL: paved.Duration(paved.MaxTokenTTL + time.Second)}, "ttl"},
		{paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, TTL: paved.Duration(-time.Hour)}, "ttl"},
	}
	for _, tc := range tests {
		field, err := tc.spec.Validate()
		if field != tc.field || (err == nil) != (tc.field == "") {
			t.Errorf("%+v: field %q (%v), want %q", tc.spec, field, err, tc.field)
		}
	}
}

// TestTokenTTL: a renewal's ttl has the spec's bounds (0 is the token's
// own), the JSON is a duration string, and Expired compares with now.
func TestTokenTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl   time.Duration
		field string
	}{{0, ""}, {time.Minute, ""}, {720 * time.Hour, ""}, {59 * time.Second, "ttl"}, {721 * time.Hour, "ttl"}, {-time.Minute, "ttl"}} {
		if field, err := (paved.TokenRenewal{TTL: paved.Duration(tc.ttl)}).Validate(); field != tc.field || (err == nil) != (tc.field == "") {
			t.Errorf("renewal ttl %s: field %q (%v), want %q", tc.ttl, field, err, tc.field)
		}
	}
	if _, err := (paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, TTL: paved.Duration(time.Second)}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "between 1m0s and 720h0m0s") {
		t.Errorf("short ttl: %v", err)
	}
	b, _ := json.Marshal(paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin, TTL: paved.Duration(15 * time.Minute)})
	if !strings.Contains(string(b), `"ttl":"15m0s"`) {
		t.Errorf("spec JSON %s", b)
	}
	if b, _ := json.Marshal(paved.TokenSpec{Name: "ci", Role: paved.RoleAdmin}); strings.Contains(string(b), "ttl") {
		t.Errorf("a spec without ttl writes one: %s", b)
	}
	var tok paved.Token
	if err := json.Unmarshal([]byte(`{"id":"tok_1","ttl":"15m","expires_at":"2026-01-01T00:15:00Z"}`), &tok); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC)
	if !tok.Expires() || tok.TTL.D() != 15*time.Minute || tok.Expired(at.Add(-time.Nanosecond)) || !tok.Expired(at) {
		t.Errorf("token %+v: Expires %v, Expired just before %v, at %v", tok, tok.Expires(), tok.Expired(at.Add(-time.Nanosecond)), tok.Expired(at))
	}
	if never := (paved.Token{ID: "tok_2"}); never.Expires() || never.Expired(at.Add(100*365*24*time.Hour)) {
		t.Errorf("a token without expiry expires")
	}
}

func TestTokensClient(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath())
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/renew"):
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			got = append(got, fmt.Sprint(body))
			w.Write([]byte(`{"id":"tok_1","name":"ci","role":"admin","ttl":"15m0s","expires_at":"2026-01-01T00:30:00Z"}`))
		case r.Method == http.MethodPost:
			var spec paved.TokenSpec
			json.NewDecoder(r.Body).Decode(&spec)
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(paved.Token{ID: "tok_1", Name: spec.Name, Role: spec.Role, Space: spec.Space, Secret: "s3cret"})
		case r.Method == http.MethodGet && r.URL.Path == "/v1/tokens":
			w.Write([]byte(`{"tokens":[{"id":"tok_1","name":"ci","role":"admin","created_at":"2026-01-01T00:00:00Z","created_by":"admin"}]}`))
		case r.Method == http.MethodGet:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"not_found","message":"no such token"}}`))
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	c, err := paved.NewClient(paved.Config{Endpoint: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := c.Tokens.Create(ctx, paved.TokenSpec{Name: "ci", Role: paved.RoleSpaceDeveloper, Space: "shop"})
	if err != nil || tok.ID != "tok_1" || tok.Secret != "s3cret" || tok.Space != "shop" {
		t.Fatalf("Create: %+v %v", tok, err)
	}
	list, err := c.Tokens.List(ctx)
	if err != nil || len(list) != 1 || list[0].Revoked() {
		t.Fatalf("List: %+v %v", list, err)
	}
	if _, err := c.Tokens.Get(ctx, "tok/x"); !errors.Is(err, paved.ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	renewed, err := c.Tokens.Renew(ctx, "tok_1", 30*time.Minute)
	if err != nil || renewed.ExpiresAt == nil || !renewed.ExpiresAt.Equal(time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)) {
		t.Fatalf("Renew: %+v %v", renewed, err)
	}
	if _, err := c.Tokens.Renew(ctx, "tok_1", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Tokens.Revoke(ctx, "tok_1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /v1/tokens", "GET /v1/tokens", "GET /v1/tokens/tok%2Fx",
		"POST /v1/tokens/tok_1/renew", "map[ttl:30m0s]", "POST /v1/tokens/tok_1/renew", "map[]", "DELETE /v1/tokens/tok_1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("requests %v, want %v", got, want)
	}
}
