package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCanaryWeightSplitsTrafficExactly checks that a canary weight sends
// exactly that share of requests to the canary instances.
func TestCanaryWeightSplitsTrafficExactly(t *testing.T) {
	r := New(Options{})
	defer r.Close()
	stable := startCountingBackends(t, 3)
	canary := startCountingBackends(t, 1)
	r.Update([]Route{{Host: "app.test", App: "s/app", Backends: stable.backends, Canary: canary.backends, CanaryWeight: 20}})
	const n = 500
	got := map[string]int{}
	for range n {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://app.test/", nil)
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		got[rec.Header().Get(InstanceHeader)]++
	}
	if c := got[canary.backends[0].ID]; c != n*20/100 {
		t.Fatalf("canary got %d of %d requests, want exactly %d (20%%): %v", c, n, n*20/100, got)
	}
	for _, b := range stable.backends {
		if got[b.ID] == 0 {
			t.Fatalf("stable instance %s got no traffic: %v", b.ID, got)
		}
	}

	// Weight 0 (or no stable instance) means one pool shared by load.
	r.Update([]Route{{Host: "app.test", App: "s/app", Canary: canary.backends, CanaryWeight: 20}})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://app.test/", nil))
	if rec.Code != http.StatusOK || rec.Header().Get(InstanceHeader) != canary.backends[0].ID {
		t.Fatalf("canary-only route: %d %q", rec.Code, rec.Header().Get(InstanceHeader))
	}
}

type countingBackends struct{ backends []Backend }

func startCountingBackends(t *testing.T, n int) countingBackends {
	t.Helper()
	var cb countingBackends
	for i := range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
		t.Cleanup(srv.Close)
		cb.backends = append(cb.backends, Backend{ID: t.Name() + "-" + string(rune('a'+i)) + "-" + srv.Listener.Addr().String(), Addr: srv.Listener.Addr().String()})
	}
	return cb
}
