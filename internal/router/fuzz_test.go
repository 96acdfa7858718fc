package router

// Fuzz targets for route matching: the Host normalization and the
// longest-prefix match, against a reference implementation written from
// their documentation. Run them with scripts/fuzz.sh or `make fuzz`; `go
// test` runs their seed corpus (f.Add below and testdata/fuzz/) as
// ordinary tests.

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// FuzzNormalizeHost checks the routing key of a Host value. Invariants:
// the key has no ASCII upper case, no port and no trailing dot; normalizing
// it again changes nothing (otherwise two spellings of one host could key
// two routes); the fast server's allocation-free appendHostKey computes the
// same key for every input; and a route's host is reached whatever its
// case, port or trailing dots.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{
		"web.example.com", "Web.Example.COM:8080", "web.example.com.", "web.example.com.:443",
		"[::1]:80", "[::1]", "[::1]:", "::1", "", ":", ".", "..", "a..", "a:1:2", "a.:80.", "[a]b:1",
		"K\u212aelvin.test", "\xff\xfe", "ŞİMŞEK.test", "x.test:80:80", "[::1", "[::1]]:80", "A.B..:9.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		key := normalizeHost(host)
		if strings.ContainsFunc(key, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
			t.Fatalf("normalizeHost(%q) = %q, not lower case", host, key)
		}
		if strings.HasSuffix(key, ".") {
			t.Fatalf("normalizeHost(%q) = %q keeps a trailing dot", host, key)
		}
		if fast := string(appendHostKey(nil, []byte(host))); fast != key {
			t.Fatalf("Host %q: appendHostKey gives %q, normalizeHost %q", host, fast, key)
		}
		if again := normalizeHost(key); again != key {
			t.Fatalf("normalizeHost is not idempotent: %q → %q → %q", host, key, again)
		}
		if paved.CheckHost(host) == nil { // a host a route can have
			if key != host {
				t.Fatalf("route host %q keys as %q", host, key)
			}
			for _, variant := range []string{strings.ToUpper(host), host + ".", host + "..", host + ":8080", strings.ToUpper(host) + ".:443"} {
				if got := normalizeHost(variant); got != host {
					t.Fatalf("Host %q does not reach route host %q: key %q", variant, host, got)
				}
			}
		}
	})
}

// FuzzRouteMatch builds a routing table from up to eight path prefixes of
// one host (comma-separated in prefixes) and matches path against it.
// Invariants: normalizePrefix is idempotent and gives "" or "/..." without
// a trailing slash; prefixMatch matches exactly on segment boundaries; and
// the table's match, for a string or a []byte path, returns the route a
// reference implementation picks: the longest matching prefix (the last
// route of duplicates), nil only when no route matches.
func FuzzRouteMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"", "/"},
		{"/api,/", "/api/x"},
		{"/api,/api/v2,", "/api/v2/users"},
		{"/api", "/apix"},
		{"/api/,api,//api//", "/api"},
		{"/a/b,/a,/", "/a/bc"},
		{"/,//,", "/anything"},
		{"/a//b,/a", "/a//b/c"},
		{"/x,/y", ""},
		{"/caf\u00e9,/caf", "/caf\u00e9/menu"},
		{"/%2F,/a%20b", "/%2F/x"},
		{"/a,/a,/a", "/a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefixes, path string) {
		var routes []Route
		for i, p := range strings.SplitN(prefixes, ",", 8) {
			routes = append(routes, Route{Host: "web.test", Path: p, App: strconv.Itoa(i)})
		}
		for _, rt := range routes {
			p := normalizePrefix(rt.Path)
			if p != "" && (p[0] != '/' || strings.HasSuffix(p, "/")) {
				t.Fatalf("normalizePrefix(%q) = %q", rt.Path, p)
			}
			if again := normalizePrefix(p); again != p {
				t.Fatalf("normalizePrefix is not idempotent: %q → %q → %q", rt.Path, p, again)
			}
			if got, want := prefixMatch(p, path), refPrefixMatch(p, path); got != want {
				t.Fatalf("prefixMatch(%q, %q) = %v, want %v", p, path, got, want)
			}
			if got := prefixMatch(p, []byte(path)); got != prefixMatch(p, path) {
				t.Fatalf("prefixMatch(%q, %q) differs for bytes", p, path)
			}
		}
		r := New(Options{})
		r.Update(routes)
		hr := r.table.Load().hosts["web.test"]
		want := refMatch(routes, path)
		got := hr.match(path)
		switch {
		case got == nil && want != "":
			t.Fatalf("no route for %q, want app %s (routes %q)", path, want, prefixes)
		case got != nil && want == "":
			t.Fatalf("route %q (app %s) for %q, which no route matches (routes %q)", got.prefix, got.app, path, prefixes)
		case got != nil && got.app != want:
			t.Fatalf("path %q goes to app %s (prefix %q), want app %s (routes %q)", path, got.app, got.prefix, want, prefixes)
		}
		if b := matchRoute(hr, []byte(path)); b != got {
			t.Fatalf("path %q matches differently as bytes", path)
		}
	})
}

// refPrefixMatch is the documented rule: "" matches everything; "/api"
// matches "/api" and "/api/x", not "/apix".
func refPrefixMatch(prefix, path string) bool {
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

// refMatch picks the app of the route whose prefix is the longest matching
// one; among routes with the same prefix, the last. Prefixes are compared
// as documented on Route.Path: trailing slashes do not count, and "" or "/"
// matches everything.
func refMatch(routes []Route, path string) string {
	best, app := -1, ""
	for _, rt := range routes {
		p := strings.TrimRight(rt.Path, "/")
		if p != "" && !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		if refPrefixMatch(p, path) && len(p) >= best {
			best, app = len(p), rt.App
		}
	}
	return app
}
