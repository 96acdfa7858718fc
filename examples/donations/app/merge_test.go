package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// region is one region of a test: a store, its merger and its HTTP server.
type region struct {
	name   string
	store  *Store
	merger *Merger
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []*http.Request // requests to /log, to check what peers send
}

func newRegion(t *testing.T, name string) *region {
	t.Helper()
	r := &region{name: name, store: openStore(t, t.TempDir(), name, name+"-1")}
	r.merger = mustMerger(t, r.store, name, "")
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		if req.URL.Path == "/log" {
			r.seen = append(r.seen, req.Clone(context.Background()))
		}
		h := newServer(r.store, r.merger, r.name).routes()
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// setPeers gives the region a merger for PEERS=peers.
func (r *region) setPeers(t *testing.T, peers string) {
	m := mustMerger(t, r.store, r.name, peers)
	r.mu.Lock()
	r.merger = m
	r.mu.Unlock()
}

func (r *region) sync() {
	r.mu.Lock()
	m := r.merger
	r.mu.Unlock()
	m.SyncOnce(context.Background())
}

func mustMerger(t *testing.T, s *Store, region, peers string) *Merger {
	t.Helper()
	m, err := NewMerger(s, region, "donations.global.test", peers, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

type totalBody struct {
	Region     string                `json:"region"`
	TotalCents int64                 `json:"total_cents"`
	Count      int                   `json:"count"`
	LocalCount int                   `json:"local_count"`
	Peers      map[string]PeerStatus `json:"peers"`
}

func TestMergeDedupesKeySeenInTwoRegions(t *testing.T) {
	eu, us := newRegion(t, "eu"), newRegion(t, "us")
	// A client retried "dup" in the other region after a timeout.
	mustDonate(t, eu.store, "dup", 500)
	mustDonate(t, us.store, "dup", 500)
	mustDonate(t, eu.store, "eu-only", 100)
	mustDonate(t, us.store, "us-only", 200)

	// PEERS lists every region, the own one included, as the demo does.
	peers := eu.srv.URL + "," + us.srv.URL + "/"
	for _, r := range []*region{eu, us} {
		r.setPeers(t, peers)
	}
	for _, r := range []*region{eu, us} {
		r.sync()
		st := r.store.Stats()
		if st.Count != 3 || st.TotalCents != 800 || st.LocalCount != 2 {
			t.Errorf("%s after merge: %+v, want 3 keys, 800 cents, 2 local", r.name, st)
		}
		var exp struct{ Records []exportRecord }
		getJSON(t, r.srv.URL+"/export", &exp)
		for _, rec := range exp.Records {
			if rec.Key == "dup" && rec.Region != r.name {
				t.Errorf("%s: dup attributed to %s; the local record should win", r.name, rec.Region)
			}
		}
	}
	// A second sync finds nothing new (cursors advanced) and changes nothing.
	eu.sync()
	if st := eu.store.Stats(); st.Count != 3 || st.TotalCents != 800 {
		t.Fatalf("second sync changed totals: %+v", st)
	}

	// Pulls go to the router with the global host and the hop header.
	us.mu.Lock()
	defer us.mu.Unlock()
	if len(us.seen) == 0 {
		t.Fatal("no /log request reached us")
	}
	for _, req := range us.seen {
		if req.Host != "donations.global.test" || req.Header.Get("X-Paved-Hop") == "" {
			t.Fatalf("peer request Host %q, X-Paved-Hop %q", req.Host, req.Header.Get("X-Paved-Hop"))
		}
	}
}

// mustDonateHTTP donates through HTTP, the way a client does.
func mustDonateHTTP(t *testing.T, r *region, key string, amount int64) {
	t.Helper()
	resp, err := http.Post(r.srv.URL+"/donate", "application/json",
		strings.NewReader(fmt.Sprintf(`{"key":%q,"amount":%d}`, key, amount)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /donate %s to %s: %s", key, r.name, resp.Status)
	}
}

func TestDonationKnownFromPeerIsDuplicate(t *testing.T) {
	eu, us := newRegion(t, "eu"), newRegion(t, "us")
	mustDonateHTTP(t, us, "k", 300)
	eu.setPeers(t, us.srv.URL)
	eu.sync()

	resp, body := post(t, eu.srv.URL, `{"key":"k","amount":300}`, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"duplicate":true`) || !strings.Contains(body, `"region":"us"`) {
		t.Fatalf("donation known from a peer: %d %s", resp.StatusCode, body)
	}
	if lines := fileLines(t, eu.store.ownPath()); len(lines) != 0 {
		t.Fatalf("eu wrote a record the us already had: %+v", lines)
	}
}

func TestFailingPeerIsSkipped(t *testing.T) {
	eu, us := newRegion(t, "eu"), newRegion(t, "us")
	mustDonateHTTP(t, us, "k", 300)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // a region that was kill -9'd: connection refused

	eu.setPeers(t, deadURL+","+us.srv.URL)
	eu.sync()
	var tot totalBody
	getJSON(t, eu.srv.URL+"/total", &tot)
	if tot.TotalCents != 300 || tot.Count != 1 || tot.LocalCount != 0 || tot.Region != "eu" {
		t.Fatalf("total %+v", tot)
	}
	if st := tot.Peers[deadURL]; st.OK || st.Error == "" || st.LastSync != "" {
		t.Errorf("dead peer status %+v", st)
	}
	if st := tot.Peers[us.srv.URL]; !st.OK || st.LastSync == "" || st.Error != "" {
		t.Errorf("live peer status %+v", st)
	}
}

// fakePeer serves /log from a list it is given, like a peer process that
// can be "restarted" with a new epoch and a new ordering.
type fakePeer struct {
	mu     sync.Mutex
	epoch  string
	recs   []Record
	sinces []int
}

func (f *fakePeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	since, _ := strconv.Atoi(r.URL.Query().Get("since"))
	f.sinces = append(f.sinces, since)
	since = min(since, len(f.recs))
	end := min(since+2, len(f.recs)) // small pages, to exercise paging
	writeJSON(w, http.StatusOK, logPage{Region: "us", Epoch: f.epoch, Records: f.recs[since:end], Next: end})
}

func rec(key string, amount int64) Record { return Record{Key: key, Amount: amount, Region: "us"} }

func TestEpochChangeRestartsCursor(t *testing.T) {
	fp := &fakePeer{epoch: "us-1@1", recs: []Record{rec("a", 1), rec("b", 2), rec("c", 3)}}
	srv := httptest.NewServer(fp)
	defer srv.Close()
	eu := openStore(t, t.TempDir(), "eu", "eu-1")
	m := mustMerger(t, eu, "eu", srv.URL)

	m.SyncOnce(context.Background())
	if st := eu.Stats(); st.Count != 3 {
		t.Fatalf("after first sync %+v", st)
	}
	if got := fmt.Sprint(fp.sinces); got != "[0 2 3]" {
		t.Fatalf("pages asked %s, want [0 2 3]", got)
	}

	// The peer restarts: a new process loads the files in another order and
	// has only two records so far. Cursor 3 means nothing to it.
	fp.mu.Lock()
	fp.epoch, fp.recs, fp.sinces = "us-1@2", []Record{rec("d", 4), rec("a", 1)}, nil
	fp.mu.Unlock()
	m.SyncOnce(context.Background())
	if st := eu.Stats(); st.Count != 4 || st.TotalCents != 10 {
		t.Fatalf("after the peer restarted: %+v, want d merged too", st)
	}
	if got := fmt.Sprint(fp.sinces); got != "[3 0 2]" {
		t.Fatalf("pages asked after the restart %s, want [3 0 2]", got)
	}
}

func TestPullPagesThroughALongLog(t *testing.T) {
	// A peer region with more records than one /log page holds.
	dir := t.TempDir()
	var b strings.Builder
	const n = 12_345
	for i := range n {
		fmt.Fprintf(&b, `{"key":"k%d","amount":1,"region":"us","at":"2025-01-01T00:00:00Z"}`+"\n", i)
	}
	os.WriteFile(filepath.Join(dir, "log-old.jsonl"), []byte(b.String()), 0o644)
	us := openStore(t, dir, "us", "us-1")
	srv := httptest.NewServer(newServer(us, mustMerger(t, us, "us", ""), "us").routes())
	defer srv.Close()

	eu := openStore(t, t.TempDir(), "eu", "eu-1")
	m := mustMerger(t, eu, "eu", srv.URL)
	m.SyncOnce(context.Background())
	if st := eu.Stats(); st.Count != n || st.TotalCents != n {
		t.Fatalf("merged %+v, want %d", st, n)
	}
	if st := m.Status()[srv.URL]; !st.OK {
		t.Fatalf("status %+v", st)
	}
}

func TestBadPeers(t *testing.T) {
	s := openStore(t, t.TempDir(), "eu", "eu-1")
	if _, err := NewMerger(s, "eu", "", "127.0.0.1:7481", time.Second); err == nil {
		t.Fatal("a peer without a scheme was accepted")
	}
	m, err := NewMerger(s, "eu", "", " http://a:1/ ,, http://b:2", time.Second)
	if err != nil || len(m.peers) != 2 || m.peers[0].url != "http://a:1" {
		t.Fatalf("peers %v err %v", m.peers, err)
	}
}
