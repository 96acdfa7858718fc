package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hopHeader tells a paved router to serve a request with its own region's
// instances and never forward it to another region. Without it a pull from
// a dead region's router could be failed over to a live region, and we would
// read that region's log while believing it was the dead one's.
const hopHeader = "X-Paved-Hop"

const (
	peerTimeout = 2 * time.Second
	maxLogBody  = 64 << 20 // a /log page is at most 20000 records, far below this
)

// logPage is the body of GET /log, on both sides of the wire.
type logPage struct {
	Region  string   `json:"region"`
	Epoch   string   `json:"epoch"`
	Records []Record `json:"records"`
	Next    int      `json:"next"`
}

// PeerStatus is what /total says about one peer.
type PeerStatus struct {
	OK       bool   `json:"ok"`
	LastSync string `json:"last_sync"` // last successful sync, RFC 3339; empty if none yet
	Error    string `json:"error"`
}

// peer is one peer router and how far its log has been read. cursor and
// epoch belong to the sync goroutine; the status is read by /total.
type peer struct {
	url    string
	cursor int
	epoch  string

	mu     sync.Mutex
	status PeerStatus
}

// Merger pulls every peer's own log into the store, so each region's totals
// cover all regions. Regions only ever read each other's append-only logs
// and merge by key, so a dead region costs freshness, never correctness.
type Merger struct {
	store    *Store
	region   string
	host     string // Host header for the peer routers, which route by host
	interval time.Duration
	client   *http.Client
	peers    []*peer
}

// NewMerger parses PEERS-style comma-separated base URLs.
func NewMerger(store *Store, region, host, peers string, interval time.Duration) (*Merger, error) {
	m := &Merger{
		store:    store,
		region:   region,
		host:     host,
		interval: interval,
		// One shared client keeps connections to the peer routers alive
		// between ticks; the timeout covers the whole request, body included.
		client: &http.Client{
			Timeout:   peerTimeout,
			Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second},
		},
	}
	for raw := range strings.SplitSeq(peers, ",") {
		raw = strings.TrimRight(strings.TrimSpace(raw), "/")
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("PEERS: %q is not an http(s) base URL", raw)
		}
		m.peers = append(m.peers, &peer{url: raw})
	}
	return m, nil
}

// Run syncs at once, then every interval, until ctx ends.
func (m *Merger) Run(ctx context.Context) {
	if len(m.peers) == 0 {
		return
	}
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.SyncOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SyncOnce pulls every peer once, concurrently, so one dead peer (which
// costs up to a timeout) does not delay the others.
func (m *Merger) SyncOnce(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range m.peers {
		wg.Go(func() {
			err := m.pull(ctx, p)
			p.mu.Lock()
			defer p.mu.Unlock()
			if err != nil {
				// Keep last_sync: it tells how stale this peer's share is.
				p.status.OK, p.status.Error = false, err.Error()
				return
			}
			p.status = PeerStatus{OK: true, LastSync: time.Now().UTC().Format(time.RFC3339Nano)}
		})
	}
	wg.Wait()
}

// pull reads a peer's log from its cursor until next stops advancing.
func (m *Merger) pull(ctx context.Context, p *peer) error {
	restarts := 0
	for {
		page, err := m.fetch(ctx, p.url, p.cursor)
		if err != nil {
			return err
		}
		if page.Epoch != p.epoch {
			// Another process answers now (a restart, or another instance
			// behind the router): its indexes mean something else. Start over
			// from 0; records we already have are skipped by key.
			restart := p.cursor != 0
			p.epoch, p.cursor = page.Epoch, 0
			if restart {
				// Several instances behind one router can alternate forever;
				// stop after a couple of resets and carry on next tick. Every
				// page read from 0 was merged, so nothing is skipped.
				if restarts++; restarts > 2 {
					return nil
				}
				continue
			}
		}
		if added := m.store.Merge(page.Records); added > 0 {
			log.Printf("merge: %d new records from %s (region %s)", added, p.url, page.Region)
		}
		if page.Next <= p.cursor {
			return nil
		}
		p.cursor = page.Next
	}
}

func (m *Merger) fetch(ctx context.Context, base string, since int) (*logPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/log?since="+strconv.Itoa(since), nil)
	if err != nil {
		return nil, err
	}
	if m.host != "" {
		req.Host = m.host
	}
	req.Header.Set(hopHeader, m.region)
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // lets the connection be reused; best effort
		return nil, fmt.Errorf("GET /log: %s", resp.Status)
	}
	var page logPage
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxLogBody)).Decode(&page); err != nil {
		return nil, fmt.Errorf("GET /log: %w", err)
	}
	if page.Epoch == "" {
		return nil, fmt.Errorf("GET /log: answer without an epoch")
	}
	return &page, nil
}

// Status returns each peer's status by URL.
func (m *Merger) Status() map[string]PeerStatus {
	out := make(map[string]PeerStatus, len(m.peers))
	for _, p := range m.peers {
		p.mu.Lock()
		out[p.url] = p.status
		p.mu.Unlock()
	}
	return out
}
