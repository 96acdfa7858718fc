package peering

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/router"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

type records []paved.ReplicaSetRecord

func (r records) ListReplicaSets(context.Context) ([]paved.ReplicaSetRecord, error) { return r, nil }

// peerRouter is a real router standing for the peer cell "us".
func peerRouter(t *testing.T) (*router.Router, *httptest.Server) {
	r := router.New(router.Options{Region: "us"})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func waitRoutes(t *testing.T, w *Watcher, what string, ok func([]router.Route) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(w.Routes()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: routes are %+v", what, w.Routes())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPeersFollowTheirProbes(t *testing.T) {
	us, srv := peerRouter(t)
	usAddr := strings.TrimPrefix(srv.URL, "http://")
	rec := paved.ReplicaSetRecord{Name: "donate", Space: "s", App: "donate", GlobalHost: "donate.test",
		Peers: []paved.Peer{{Region: "eu", Router: "127.0.0.1:1"}, {Region: "us", Router: usAddr}}}
	var changes atomic.Int64
	w := New(Options{Records: records{rec}, Region: "eu", Interval: 20 * time.Millisecond, OnChange: func() { changes.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.Reload()
	go w.Run(ctx)

	peered := func(rs []router.Route) bool {
		return len(rs) == 1 && len(rs[0].Peers) == 1 && rs[0].Peers[0].Addr == usAddr && rs[0].Peers[0].ID == "peer/us"
	}
	unpeered := func(rs []router.Route) bool { return len(rs) == 1 && len(rs[0].Peers) == 0 }

	// us serves the host with no healthy instance: not a peer to send to.
	us.Update([]router.Route{{Host: "donate.test", App: "s/donate", Global: true}})
	waitRoutes(t, w, "a peer without instances is left out", unpeered)
	if rs := w.Routes(); rs[0].Host != "donate.test" || rs[0].App != "s/donate" || !rs[0].Global {
		t.Fatalf("route = %+v", rs[0])
	}

	us.Update([]router.Route{{Host: "donate.test", App: "s/donate", Global: true, Backends: []router.Backend{{ID: "i", Addr: "127.0.0.1:9"}}}})
	waitRoutes(t, w, "a peer with instances is used", peered)

	srv.Close() // the whole peer cell is gone
	waitRoutes(t, w, "a dead peer is dropped", unpeered)
	if changes.Load() < 3 {
		t.Fatalf("OnChange called %d times, want one per change", changes.Load())
	}
	st := w.Status()
	if len(st) != 1 || st[0].Region != "us" || st[0].OK || st[0].Error == "" {
		t.Fatalf("status = %+v, want us down with the error", st)
	}
}

// A peer whose record says TLS is probed over HTTPS, verified with
// Options.TLS, and handed to the router with TLS set; one that cannot be
// verified is not a peer to send to.
func TestTLSPeer(t *testing.T) {
	us := router.New(router.Options{Region: "us"})
	us.Update([]router.Route{{Host: "donate.test", App: "s/donate", Global: true, Backends: []router.Backend{{ID: "i", Addr: "127.0.0.1:9"}}}})
	srv := httptest.NewTLSServer(us)
	t.Cleanup(srv.Close)
	usAddr := strings.TrimPrefix(srv.URL, "https://")
	rec := paved.ReplicaSetRecord{Name: "donate", Space: "s", App: "donate", GlobalHost: "donate.test",
		Peers: []paved.Peer{{Region: "eu", Router: "127.0.0.1:1"}, {Region: "us", Router: usAddr, TLS: true}}}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	for name, tc := range map[string]struct {
		cfg  *tls.Config
		want bool
	}{
		"trusted":   {&tls.Config{RootCAs: pool}, true},
		"untrusted": {nil, false},
	} {
		t.Run(name, func(t *testing.T) {
			w := New(Options{Records: records{rec}, Region: "eu", Interval: 20 * time.Millisecond, TLS: tc.cfg})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w.Reload()
			go w.Run(ctx)
			if tc.want {
				waitRoutes(t, w, "the TLS peer is used", func(rs []router.Route) bool {
					return len(rs) == 1 && len(rs[0].Peers) == 1 && rs[0].Peers[0] == router.Backend{ID: "peer/us", Addr: usAddr, TLS: true}
				})
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				st := w.Status()
				if len(st) == 1 && !st[0].OK && strings.Contains(st[0].Error, "certificate") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("status = %+v, want us down with a certificate error", st)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if rs := w.Routes(); len(rs[0].Peers) != 0 {
				t.Fatalf("an unverifiable peer is routed to: %+v", rs)
			}
		})
	}
}
