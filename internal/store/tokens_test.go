package store_test

import (
	"database/sql"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestTokens(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	const hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tok, err := s.CreateToken(ctx, "admin", paved.Token{Name: "ci", Role: paved.RoleSpaceDeveloper, Space: "shop"}, hash)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^tok_[0-9a-f]{16}$`).MatchString(tok.ID) || tok.Name != "ci" || tok.Role != paved.RoleSpaceDeveloper ||
		tok.Space != "shop" || tok.CreatedBy != "admin" || tok.CreatedAt.IsZero() || tok.Revoked() {
		t.Fatalf("created %+v", tok)
	}
	_, err = s.CreateToken(ctx, "admin", paved.Token{Name: "dup", Role: paved.RoleAdmin}, hash)
	wantErr(t, "same hash", err, store.ErrExists)

	got, err := s.TokenByHash(ctx, hash)
	if err != nil || got.ID != tok.ID {
		t.Fatalf("TokenByHash: %+v %v", got, err)
	}
	_, err = s.TokenByHash(ctx, strings.Repeat("0", 64))
	wantErr(t, "unknown hash", err, store.ErrNotFound)
	_, err = s.GetToken(ctx, "tok_nope")
	wantErr(t, "unknown id", err, store.ErrNotFound)

	other, err := s.CreateToken(ctx, "admin", paved.Token{Name: "root", Role: paved.RoleAdmin}, strings.Repeat("1", 64))
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 2 || list[0].ID != tok.ID || list[1].ID != other.ID {
		t.Fatalf("ListTokens: %+v %v", list, err)
	}

	before := lastEventID(t, s)
	rev, err := s.RevokeToken(ctx, "admin", tok.ID)
	if err != nil || !rev.Revoked() {
		t.Fatalf("RevokeToken: %+v %v", rev, err)
	}
	if got, _ := s.TokenByHash(ctx, hash); !got.Revoked() {
		t.Errorf("TokenByHash after revoke: %+v", got)
	}
	if _, err := s.RevokeToken(ctx, "admin", tok.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	_, err = s.RevokeToken(ctx, "admin", "tok_nope")
	wantErr(t, "revoke unknown", err, store.ErrNotFound)
	if got := actions(t, s, before); !slices.Equal(got, []string{"token.revoke token/" + tok.ID}) {
		t.Errorf("events of two revokes: %v", got)
	}
	if got := actions(t, s, 0); !slices.Equal(got[:2], []string{"token.create token/" + tok.ID, "token.create token/" + other.ID}) {
		t.Errorf("events: %v", got)
	}

	// Only the hash is in the database.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "paved.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var stored string
	if err := raw.QueryRow("SELECT hash FROM tokens WHERE id = ?", tok.ID).Scan(&stored); err != nil || stored != hash {
		t.Errorf("stored hash %q %v", stored, err)
	}
}

// A deleted space takes its tokens with it, so a new space of the same
// name does not inherit them; other spaces' tokens and admin tokens stay.
func TestDeleteSpaceRevokesItsTokens(t *testing.T) {
	s := openStore(t, t.TempDir())
	for _, sp := range []string{"shop", "blog"} {
		if _, err := s.CreateSpace(ctx, "admin", paved.SpaceSpec{Name: sp}); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(name, space string, role paved.Role, hash string) paved.Token {
		tok, err := s.CreateToken(ctx, "admin", paved.Token{Name: name, Role: role, Space: space}, strings.Repeat(hash, 64))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	shop := mk("dev", "shop", paved.RoleSpaceDeveloper, "a")
	blog := mk("dev", "blog", paved.RoleSpaceDeveloper, "b")
	root := mk("root", "", paved.RoleAdmin, "c")
	if err := s.DeleteSpace(ctx, "admin", "shop", 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tok     paved.Token
		revoked bool
	}{{shop, true}, {blog, false}, {root, false}} {
		got, err := s.GetToken(ctx, c.tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Revoked() != c.revoked {
			t.Errorf("token %s of space %q: revoked %v, want %v", got.Name, got.Space, got.Revoked(), c.revoked)
		}
	}
}

// TestTokenExpiry: a token made with a TTL keeps it and its expiry; a
// renewal moves the expiry from the caller's now (by default by the
// token's own TTL) and is recorded; a revoked, expired or never-expiring
// token is not renewed.
func TestTokenExpiry(t *testing.T) {
	s := openStore(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ttl := 15 * time.Minute
	expires := t0.Add(ttl)
	mk := func(name, hash string, ttl time.Duration, expires *time.Time) paved.Token {
		tok, err := s.CreateToken(ctx, "admin", paved.Token{Name: name, Role: paved.RoleAdmin, TTL: paved.Duration(ttl), ExpiresAt: expires},
			strings.Repeat(hash, 64))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := mk("short", "a", ttl, &expires)
	if tok.TTL.D() != ttl || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(expires) {
		t.Fatalf("created %+v", tok)
	}
	if got, _ := s.TokenByHash(ctx, strings.Repeat("a", 64)); got.ExpiresAt == nil || !got.ExpiresAt.Equal(expires) || !got.Expired(expires) {
		t.Fatalf("TokenByHash: %+v", got)
	}

	before := lastEventID(t, s)
	at := t0.Add(10 * time.Minute)
	got, err := s.RenewToken(ctx, "admin", tok.ID, 0, at)
	if err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(at.Add(ttl)) || got.TTL.D() != ttl {
		t.Fatalf("RenewToken by its own ttl: %+v %v", got, err)
	}
	got, err = s.RenewToken(ctx, "admin", tok.ID, time.Hour, at)
	if err != nil || !got.ExpiresAt.Equal(at.Add(time.Hour)) || got.TTL.D() != ttl {
		t.Fatalf("RenewToken by an hour: %+v %v", got, err)
	}
	if got := actions(t, s, before); !slices.Equal(got, []string{"token.renew token/" + tok.ID, "token.renew token/" + tok.ID}) {
		t.Errorf("events of two renewals: %v", got)
	}

	before = lastEventID(t, s)
	_, err = s.RenewToken(ctx, "admin", tok.ID, 0, at.Add(time.Hour))
	wantErr(t, "renew at its expiry", err, store.ErrTokenExpired)
	never := mk("never", "b", 0, nil)
	if never.ExpiresAt != nil || never.TTL != 0 {
		t.Errorf("a token without ttl: %+v", never)
	}
	_, err = s.RenewToken(ctx, "admin", never.ID, time.Hour, at)
	wantErr(t, "renew a token without expiry", err, store.ErrTokenNoExpiry)
	revoked := mk("revoked", "c", ttl, &expires)
	if _, err := s.RevokeToken(ctx, "admin", revoked.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.RenewToken(ctx, "admin", revoked.ID, 0, t0)
	wantErr(t, "renew a revoked token", err, store.ErrTokenRevoked)
	_, err = s.RenewToken(ctx, "admin", "tok_nope", 0, t0)
	wantErr(t, "renew an unknown token", err, store.ErrNotFound)
	for _, a := range actions(t, s, before) {
		if strings.HasPrefix(a, "token.renew") {
			t.Errorf("a refused renewal was recorded: %s", a)
		}
	}
}
