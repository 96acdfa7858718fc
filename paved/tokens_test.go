package paved_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	}
	for _, tc := range tests {
		field, err := tc.spec.Validate()
		if field != tc.field || (err == nil) != (tc.field == "") {
			t.Errorf("%+v: field %q (%v), want %q", tc.spec, field, err, tc.field)
		}
	}
}

func TestTokensClient(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath())
		w.Header().Set("Content-Type", "application/json")
		switch {
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
	if err := c.Tokens.Revoke(ctx, "tok_1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /v1/tokens", "GET /v1/tokens", "GET /v1/tokens/tok%2Fx", "DELETE /v1/tokens/tok_1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("requests %v, want %v", got, want)
	}
}
