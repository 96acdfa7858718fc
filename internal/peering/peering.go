// Package peering gives a cell its view of the other cells of its replica
// sets. It reads the replica-set records (written to every region by the
// library's fan-out, so there is no central coordinator), probes each peer
// cell's router every Interval, and turns both into the global routes the
// router serves: a global host answered by the local app, falling back to
// the peers that currently have healthy instances for it.
//
// Active probes find a dead or drained peer within one interval; the router
// itself notices failed connects at once (passive checks) and tries the
// next peer, so a request does not wait for the next probe.
package peering

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/router"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Records is where replica-set records come from (the cell's store).
type Records interface {
	ListReplicaSets(ctx context.Context) ([]paved.ReplicaSetRecord, error)
}

// Options configure a Watcher.
type Options struct {
	Records Records
	Region  string // this cell's region: the record's peer of that name is us
	// Interval between probes of each peer; default 500ms (the issue's
	// bound is 1s).
	Interval time.Duration
	// Timeout of one probe; default 400ms.
	Timeout time.Duration
	// OnChange is called after the global routes changed (records
	// reloaded, a peer's health flipped); the cell republishes the
	// routing table.
	OnChange func()
	Logger   *slog.Logger
	// TLS is the client configuration for peers whose record says TLS
	// (their routers speak HTTPS only): the roots to trust. Nil means the
	// system roots. Plain peers are probed over HTTP as before.
	TLS *tls.Config
}

// Watcher holds the global routes. Create with New, then Run.
type Watcher struct {
	opts   Options
	log    *slog.Logger
	client *http.Client
	kick   chan struct{}

	mu      sync.Mutex
	records []paved.ReplicaSetRecord
	health  map[peerKey]peerHealth
}

// peerKey is one peer router: its address and whether it speaks TLS (a
// record naming it with TLS and one without are probed apart).
type peerKey struct {
	addr string
	tls  bool
}

func keyOf(p paved.Peer) peerKey { return peerKey{p.Router, p.TLS} }

// url is the probe's URL on the peer.
func (k peerKey) url() string {
	return paved.RouterURL(k.addr, k.tls) + router.ProbePath
}

// peerHealth is the last probe of one peer router.
type peerHealth struct {
	ok    bool
	hosts map[string]int // global host → healthy local instances there
	err   string
}

// New returns a Watcher; Reload and Run start it.
func New(opts Options) *Watcher {
	if opts.Interval <= 0 {
		opts.Interval = 500 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 400 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OnChange == nil {
		opts.OnChange = func() {}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.TLS != nil {
		tc = opts.TLS.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	}
	return &Watcher{
		opts: opts,
		log:  opts.Logger,
		client: &http.Client{
			Timeout: opts.Timeout,
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: opts.Timeout}).DialContext,
				TLSClientConfig:     tc, // only used for https:// probes
				TLSHandshakeTimeout: opts.Timeout,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     30 * time.Second,
			},
		},
		kick:   make(chan struct{}, 1),
		health: map[peerKey]peerHealth{},
	}
}

// Reload re-reads the records (after the API changed one) and probes the
// peers at once.
func (w *Watcher) Reload() {
	recs, err := w.opts.Records.ListReplicaSets(context.Background())
	if err != nil {
		w.log.Error("peering: read replica sets", "err", err)
		return
	}
	w.mu.Lock()
	w.records = recs
	w.mu.Unlock()
	w.opts.OnChange()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run probes the peers until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		w.probeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
	}
}

// peers returns the distinct peer routers of every record, other than this
// cell.
func (w *Watcher) peers() []peerKey {
	w.mu.Lock()
	defer w.mu.Unlock()
	set := map[peerKey]bool{}
	for _, rec := range w.records {
		for _, p := range rec.Peers {
			if p.Region != w.opts.Region {
				set[keyOf(p)] = true
			}
		}
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b peerKey) int {
		if c := strings.Compare(a.addr, b.addr); c != 0 {
			return c
		}
		return cmp.Compare(btoi(a.tls), btoi(b.tls))
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// probeAll probes every peer in parallel and reports a change once.
func (w *Watcher) probeAll(ctx context.Context) {
	addrs := w.peers()
	results := make([]peerHealth, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.probe(ctx, addr)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	next := make(map[peerKey]peerHealth, len(addrs))
	for i, addr := range addrs {
		next[addr] = results[i]
	}
	w.mu.Lock()
	changed := !maps.EqualFunc(w.health, next, samePeerHealth)
	for addr, h := range next {
		if old, ok := w.health[addr]; ok && old.ok != h.ok {
			w.log.Info("peering: peer health changed", "router", addr.addr, "tls", addr.tls, "ok", h.ok, "err", h.err)
		}
	}
	w.health = next
	w.mu.Unlock()
	if changed {
		w.opts.OnChange()
	}
}

func samePeerHealth(a, b peerHealth) bool {
	return a.ok == b.ok && maps.Equal(a.hosts, b.hosts)
}

// probe asks one peer router which global hosts it can serve locally.
func (w *Watcher) probe(ctx context.Context, addr peerKey) peerHealth {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr.url(), nil)
	if err != nil {
		return peerHealth{err: err.Error()}
	}
	req.Host = router.ProbeHost
	res, err := w.client.Do(req)
	if err != nil {
		return peerHealth{err: err.Error()}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096)) // drained for keep-alive, best effort
		return peerHealth{err: fmt.Sprintf("probe answered %s", res.Status)}
	}
	var st router.GlobalStatus
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&st); err != nil {
		return peerHealth{err: "probe: " + err.Error()}
	}
	return peerHealth{ok: true, hosts: st.Hosts}
}

// Routes returns the global routes to publish: one per record, without
// local backends (the deployer adds the app's instances), with the peers
// whose last probe showed healthy instances for the host.
func (w *Watcher) Routes() []router.Route {
	w.mu.Lock()
	defer w.mu.Unlock()
	routes := make([]router.Route, 0, len(w.records))
	for _, rec := range w.records {
		rt := router.Route{Host: rec.GlobalHost, App: rec.Space + "/" + rec.App, Global: true}
		for _, p := range rec.Peers {
			if p.Region == w.opts.Region {
				continue
			}
			if h := w.health[keyOf(p)]; h.ok && h.hosts[rec.GlobalHost] > 0 {
				rt.Peers = append(rt.Peers, router.Backend{ID: "peer/" + p.Region, Addr: p.Router, TLS: p.TLS})
			}
		}
		routes = append(routes, rt)
	}
	return routes
}

// PeerStatus is one peer as this cell sees it, for status displays.
type PeerStatus struct {
	Region, Router string
	TLS            bool // probed (and forwarded to) over HTTPS
	OK             bool
	Error          string
	Hosts          map[string]int
}

// Status lists every peer of every record with its last probe.
func (w *Watcher) Status() []PeerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[peerKey]bool{}
	var out []PeerStatus
	for _, rec := range w.records {
		for _, p := range rec.Peers {
			if p.Region == w.opts.Region || seen[keyOf(p)] {
				continue
			}
			seen[keyOf(p)] = true
			h := w.health[keyOf(p)]
			out = append(out, PeerStatus{Region: p.Region, Router: p.Router, TLS: p.TLS, OK: h.ok, Error: h.err, Hosts: h.hosts})
		}
	}
	return out
}
