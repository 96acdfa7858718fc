package router

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// twoCells starts two real routers, "eu" and "us", each with the global host
// donate.test; eu's local instance is given, us has one real instance. Each
// lists the other as its peer.
func twoCells(t *testing.T, euLocal []Backend) (euURL, usURL string, eu, us *Router) {
	t.Helper()
	_, usInst := newBackend(t, "us-1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served in us, hop="+r.Header.Get(paved.HopHeader))
	})
	us, usURL = newFront(t, Options{Region: "us"})
	eu, euURL = newFront(t, Options{Region: "eu"})
	hostOf := func(u string) string { p, _ := url.Parse(u); return p.Host }
	eu.Update([]Route{{Host: "donate.test", App: "s/donate", Backends: euLocal, Global: true,
		Peers: []Backend{{ID: "peer/us", Addr: hostOf(usURL)}}}})
	us.Update([]Route{{Host: "donate.test", App: "s/donate", Backends: []Backend{usInst}, Global: true,
		Peers: []Backend{{ID: "peer/eu", Addr: hostOf(euURL)}}}})
	return euURL, usURL, eu, us
}

func TestGlobalHostServedLocallyFirst(t *testing.T) {
	_, euInst := newBackend(t, "eu-1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served in eu") })
	euURL, _, _, _ := twoCells(t, []Backend{euInst})
	for range 5 {
		res := do(t, euURL, "GET", "donate.test", "/", nil)
		if res.status != 200 || res.body != "served in eu" {
			t.Fatalf("got %d %q, want the local instance", res.status, res.body)
		}
		if got := res.header.Get(paved.RegionHeader); got != "eu" {
			t.Fatalf("%s = %q, want eu", paved.RegionHeader, got)
		}
		if res.instance != "eu-1" {
			t.Fatalf("instance %q, want eu-1", res.instance)
		}
	}
}

func TestGlobalHostFailsOverToPeer(t *testing.T) {
	for name, local := range map[string][]Backend{
		"no healthy instance":       nil,
		"instance refuses connects": {{ID: "eu-dead", Addr: closedAddr(t)}},
	} {
		t.Run(name, func(t *testing.T) {
			euURL, _, _, _ := twoCells(t, local)
			// A POST too: nothing reached a dead instance, so it is safe to send on.
			for _, method := range []string{"GET", "POST"} {
				res := do(t, euURL, method, "donate.test", "/donate", strings.NewReader("{}"))
				if res.status != 200 || res.body != "served in us, hop=eu" {
					t.Fatalf("%s: got %d %q, want the peer's instance with the hop header", method, res.status, res.body)
				}
				if got := res.header.Get(paved.RegionHeader); got != "us" {
					t.Fatalf("%s = %q, want us (the region that served)", paved.RegionHeader, got)
				}
				if res.instance != "us-1" {
					t.Fatalf("instance %q, want the peer's instance us-1", res.instance)
				}
			}
		})
	}
}

func TestGlobalHostNeverForwardsTwice(t *testing.T) {
	// Neither cell has a healthy instance: eu forwards to us, which must
	// not send it back (or anywhere): it answers 502 itself.
	_, usURL, _, us := twoCells(t, nil)
	hostOf := func(u string) string { p, _ := url.Parse(u); return p.Host }
	us.Update([]Route{{Host: "donate.test", App: "s/donate", Global: true, Peers: []Backend{{ID: "peer/eu", Addr: hostOf(usURL)}}}})
	req, _ := http.NewRequest("GET", usURL+"/", nil)
	req.Host = "donate.test"
	req.Header.Set(paved.HopHeader, "eu")
	res, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "no healthy instance") {
		t.Fatalf("a hopped request got %d %q, want 502 from the second cell", res.StatusCode, body)
	}
}

func TestGlobalHostAllPeersDown502(t *testing.T) {
	r, base := newFront(t, Options{Region: "eu"})
	r.Update([]Route{{Host: "donate.test", App: "s/donate", Global: true,
		Peers: []Backend{{ID: "peer/us", Addr: closedAddr(t)}, {ID: "peer/ap", Addr: closedAddr(t)}}}})
	res := do(t, base, "GET", "donate.test", "/", nil)
	if res.status != http.StatusBadGateway {
		t.Fatalf("got %d, want 502 when every peer is down", res.status)
	}
	if st := r.Stats("peer/us"); st.FailedConnects != 1 {
		t.Fatalf("peer/us failed connects = %d, want 1", st.FailedConnects)
	}
}

func TestProbeReportsLocalHealthyCounts(t *testing.T) {
	_, a := newBackend(t, "a", nil)
	_, b := newBackend(t, "b", nil)
	r, base := newFront(t, Options{Region: "eu"},
		Route{Host: "donate.test", App: "s/donate", Backends: []Backend{a, b}, Global: true, Peers: []Backend{{ID: "peer/us", Addr: closedAddr(t)}}},
		Route{Host: "empty.test", App: "s/empty", Global: true},
		Route{Host: "plain.test", App: "s/plain", Backends: []Backend{a}},
	)
	res := do(t, base, "GET", ProbeHost, ProbePath, nil)
	if res.status != 200 {
		t.Fatalf("probe: %d %s", res.status, res.body)
	}
	var st GlobalStatus
	if err := json.Unmarshal([]byte(res.body), &st); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"donate.test": 2, "empty.test": 0}
	if st.Region != "eu" || len(st.Hosts) != len(want) || st.Hosts["donate.test"] != 2 || st.Hosts["empty.test"] != 0 {
		t.Fatalf("probe = %+v, want region eu and hosts %v (plain routes are not global)", st, want)
	}
	if got := r.Global(); got.Hosts["donate.test"] != 2 {
		t.Fatalf("Global() = %+v", got)
	}
	if res := do(t, base, "GET", ProbeHost, "/other", nil); res.status != 404 {
		t.Fatalf("probe host, other path: %d, want 404", res.status)
	}
}
