package cell

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPprofNeedsAdminToken: the PAVED_PPROF listener answers 401 to a
// request without the admin token (or with another one) and serves the
// profiles to one with it.
func TestPprofNeedsAdminToken(t *testing.T) {
	const token = "pprof-admin-token"
	c, err := Start(Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", RouterAddr: "127.0.0.1:0", Token: token,
		StopGrace: time.Second, PprofAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	if c.PprofAddr() == "" {
		t.Fatal("no pprof listener")
	}
	get := func(path, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.PprofAddr()+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/mutex", "/debug/pprof/symbol"} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", "Basic " + token, token} {
			if code, body := get(path, auth); code != http.StatusUnauthorized || strings.Contains(body, "goroutine") {
				t.Errorf("GET %s with Authorization %q: %d %.80q, want 401", path, auth, code, body)
			}
		}
		if code, _ := get(path, "Bearer "+token); code != http.StatusOK {
			t.Errorf("GET %s with the admin token: %d, want 200", path, code)
		}
	}
	if code, body := get("/debug/pprof/", "bearer "+token); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("index with the admin token: %d %.200q", code, body)
	}
}

// Without PprofAddr there is no profiles listener.
func TestNoPprofByDefault(t *testing.T) {
	c, err := Start(Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", RouterAddr: "127.0.0.1:0", Token: "t", StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	if c.PprofAddr() != "" {
		t.Fatalf("pprof served on %s without PprofAddr", c.PprofAddr())
	}
}
