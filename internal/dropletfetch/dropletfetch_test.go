package dropletfetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokenOpensOneDropletUntilItExpires(t *testing.T) {
	s, err := NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	tok := s.Token(a, time.Minute)
	if err := s.Verify(tok, a); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	if err := s.Verify(tok, b); err == nil {
		t.Fatal("a token opened another droplet")
	}
	other, _ := NewSigner([]byte(strings.Repeat("x", 32)))
	if err := other.Verify(tok, a); err == nil {
		t.Fatal("a token signed with another key was accepted")
	}
	if err := s.Verify(tok[:len(tok)-2]+"AA", a); err == nil {
		t.Fatal("a forged signature was accepted")
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if err := s.Verify(tok, a); err == nil {
		t.Fatal("an expired token was accepted")
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestKeyPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("the key changed across loads: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestFetchChecksTheDigestBeforeUnpacking(t *testing.T) {
	droplets := t.TempDir()
	digest := strings.Repeat("c", 64)
	if err := os.MkdirAll(filepath.Join(droplets, digest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(droplets, digest, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	signer, _ := NewSigner([]byte(strings.Repeat("k", 32)))
	arch := &Archives{DropletDir: func(d string) string { return filepath.Join(droplets, d) }, Dir: t.TempDir(), Signer: signer}
	sum, err := arch.Archive(digest)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := arch.ServeArchive(w, r, digest); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	dest := filepath.Join(t.TempDir(), "app")
	if err := Fetch(ctx, FetchOptions{URL: srv.URL, SHA256: sum, Token: signer.Token(digest, time.Minute), Dest: dest}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "run.sh")); err != nil || !strings.Contains(string(b), "echo hi") {
		t.Fatalf("unpacked run.sh: %q %v", b, err)
	}
	bad := filepath.Join(t.TempDir(), "app")
	err = Fetch(ctx, FetchOptions{URL: srv.URL, SHA256: strings.Repeat("0", 64), Token: signer.Token(digest, time.Minute), Dest: bad})
	if err == nil || !strings.Contains(err.Error(), "refusing to unpack") {
		t.Fatalf("a wrong digest: %v", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("something was unpacked although the digest was wrong")
	}
	err = Fetch(ctx, FetchOptions{URL: srv.URL, SHA256: sum, Token: signer.Token(strings.Repeat("d", 64), time.Minute), Dest: bad})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a token for another droplet: %v", err)
	}
}
