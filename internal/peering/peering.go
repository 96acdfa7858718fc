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
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
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
}

// Watcher holds the global routes. Create with New, then Run.
type Watcher struct {
	opts   Options
	log    *slog.Logger
	client *http.Client
	kick   chan struct{}

	mu      sync.Mutex
	records []paved.ReplicaSetRecord
	health  map[string]peerHealth // by router address
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
	return &Watcher{
		opts: opts,
		log:  opts.Logger,
		client: &http.Client{
			Timeout: opts.Timeout,
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: opts.Timeout}).DialContext,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     30 * time.Second,
			},
		},
		kick:   make(chan struct{}, 1),
		health: map[string]peerHealth{},
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

// peers returns the distinct peer router addresses of every record, other
// than this cell.
func (w *Watcher) peers() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	set := map[string]bool{}
	for _, rec := range w.records {
		for _, p := range rec.Peers {
			if p.Region != w.opts.Region {
				set[p.Router] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
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
	next := make(map[string]peerHealth, len(addrs))
	for i, addr := range addrs {
		next[addr] = results[i]
	}
	w.mu.Lock()
	changed := !maps.EqualFunc(w.health, next, samePeerHealth)
	for addr, h := range next {
		if old, ok := w.health[addr]; ok && old.ok != h.ok {
			w.log.Info("peering: peer health changed", "router", addr, "ok", h.ok, "err", h.err)
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
func (w *Watcher) probe(ctx context.Context, addr string) peerHealth {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+router.ProbePath, nil)
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
		io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
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
			if h := w.health[p.Router]; h.ok && h.hosts[rec.GlobalHost] > 0 {
				rt.Peers = append(rt.Peers, router.Backend{ID: "peer/" + p.Region, Addr: p.Router})
			}
		}
		routes = append(routes, rt)
	}
	return routes
}

// PeerStatus is one peer as this cell sees it, for status displays.
type PeerStatus struct {
	Region, Router string
	OK             bool
	Error          string
	Hosts          map[string]int
}

// Status lists every peer of every record with its last probe.
func (w *Watcher) Status() []PeerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	var out []PeerStatus
	for _, rec := range w.records {
		for _, p := range rec.Peers {
			if p.Region == w.opts.Region || seen[p.Router] {
				continue
			}
			seen[p.Router] = true
			h := w.health[p.Router]
			out = append(out, PeerStatus{Region: p.Region, Router: p.Router, OK: h.ok, Error: h.err, Hosts: h.hosts})
		}
	}
	return out
}
