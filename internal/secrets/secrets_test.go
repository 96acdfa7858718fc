package secrets

import (
	"slices"
	"testing"
)

func TestScrubDropsCredentialsOnly(t *testing.T) {
	in := []string{"PATH=/usr/bin", "HOME=/root", "GOPROXY=https://proxy", "PAVED_TOKEN=pvd_x", "GITHUB_TOKEN=g",
		"AWS_SECRET_ACCESS_KEY=a", "DB_PASSWORD=p", "my_api_key=k", "HTTP_PROXY=h", "GOFLAGS=-mod=mod", "BASIC_AUTH=u:p"}
	got := Scrub(in)
	want := []string{"PATH=/usr/bin", "HOME=/root", "GOPROXY=https://proxy", "HTTP_PROXY=h", "GOFLAGS=-mod=mod"}
	if !slices.Equal(got, want) {
		t.Fatalf("Scrub = %v, want %v", got, want)
	}
}

func TestRedactor(t *testing.T) {
	r := NewRedactor("hunter22", "s3cr3t-value", "on")
	if got := r.String("login with hunter22 and s3cr3t-value, feature on"); got != "login with [redacted] and [redacted], feature on" {
		t.Fatalf("String = %q", got)
	}
	b := []byte("no secret here")
	if got := r.Bytes(b); &got[0] != &b[0] {
		t.Fatal("a line without secrets was copied")
	}
	if got := string(r.Bytes([]byte("x hunter22hunter22 y"))); got != "x [redacted][redacted] y" {
		t.Fatalf("Bytes = %q", got)
	}
	var zero *Redactor
	if zero.String("hunter22") != "hunter22" || !zero.Empty() {
		t.Fatal("the nil redactor must redact nothing")
	}
}
