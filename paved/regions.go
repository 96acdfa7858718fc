package paved

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// RegionTimeout bounds how long one region may take to answer a quick
// look-up (Regions.Health, HostHolders, the health check before an apply),
// which is also retried only once: one unreachable cell costs a plan a
// moment, not the whole retry budget.
const RegionTimeout = 5 * time.Second

// Regions is a set of cells by region name: what a multi-region resource
// spans. Each region is one cell, reached with its own Client. It is safe for
// concurrent use.
type Regions struct {
	clients map[string]*Client
	// probes are the same cells with one retry, for quick look-ups: a
	// region that is down must cost a plan a moment, not the full backoff.
	probes map[string]*Client

	// ReplicaSets fans replica sets (one app in several regions, behind one
	// global host) out over these regions.
	ReplicaSets ReplicaSets
}

// NewRegions returns clients for the cells of cfgs, keyed by region name. A
// region name must be a DNS label: cells name their peers by it. No cell is
// called; an unreachable one shows in Health and in the replica sets'
// per-region status.
func NewRegions(cfgs map[string]Config) (*Regions, error) {
	r := &Regions{clients: make(map[string]*Client, len(cfgs)), probes: make(map[string]*Client, len(cfgs))}
	for name, cfg := range cfgs {
		if !isDNSLabel(name) {
			return nil, fmt.Errorf("region name %q must be a DNS label: 1 to 63 lowercase letters, digits and hyphens", name)
		}
		c, err := NewClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", name, err)
		}
		if cfg.MaxRetries >= 0 {
			cfg.MaxRetries = 1
		}
		probe, _ := NewClient(cfg) // the same config NewClient just accepted
		r.clients[name], r.probes[name] = c, probe
	}
	r.ReplicaSets = replicaSets{r}
	return r, nil
}

// Names lists the region names in order.
func (r *Regions) Names() []string {
	names := make([]string, 0, len(r.clients))
	for name := range r.clients {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Split splits region names (a replica set's, from its state) into those
// configured here and those no longer configured, each in the given order.
func (r *Regions) Split(names []string) (configured, gone []string) {
	configured = []string{}
	for _, name := range names {
		if r.Has(name) {
			configured = append(configured, name)
		} else {
			gone = append(gone, name)
		}
	}
	return configured, gone
}

// RegionsLeft are the regions of before that now no longer lists: those a
// replica set's change leaves.
func RegionsLeft(now, before []string) []string {
	var out []string
	for _, name := range before {
		if !slices.Contains(now, name) {
			out = append(out, name)
		}
	}
	return out
}

// Has tells whether a region of that name is configured.
func (r *Regions) Has(name string) bool {
	_, ok := r.clients[name]
	return ok
}

// Client is the client of one region's cell.
func (r *Regions) Client(name string) (*Client, bool) {
	c, ok := r.clients[name]
	return c, ok
}

// RegionHealth is one region as its cell reports itself.
type RegionHealth struct {
	Region   string // the configured name
	Endpoint string
	// Healthy is true when the cell answered and calls itself by the
	// configured region name; Err says why not otherwise.
	Healthy bool
	Cloud   string
	Version string
	// RouterAddr is where other cells reach this cell's router (host:port).
	RouterAddr string
	// RouterTLS is true when that router speaks HTTPS only.
	RouterTLS bool
	Err       error
}

// Health asks every region's cell for its health, in parallel, each within
// RegionTimeout. It lists every configured region by name.
func (r *Regions) Health(ctx context.Context) []RegionHealth {
	names := r.Names()
	byName := r.health(ctx, names)
	out := make([]RegionHealth, 0, len(names))
	for _, name := range names {
		out = append(out, byName[name])
	}
	return out
}

// health asks the named regions for their health in parallel.
func (r *Regions) health(ctx context.Context, names []string) map[string]RegionHealth {
	out := make(map[string]RegionHealth, len(names))
	var mu sync.Mutex
	r.each(names, r.probes, func(name string, c *Client) {
		h := regionHealth(ctx, name, c)
		mu.Lock()
		out[name] = h
		mu.Unlock()
	})
	return out
}

func regionHealth(ctx context.Context, name string, c *Client) RegionHealth {
	ctx, cancel := context.WithTimeout(ctx, RegionTimeout)
	defer cancel()
	out := RegionHealth{Region: name, Endpoint: c.Endpoint()}
	h, err := c.Health(ctx)
	if err != nil {
		out.Err = err
		return out
	}
	out.Cloud, out.Version = h.Cloud, h.Version
	out.RouterAddr = reachableRouter(c.Endpoint(), h.RouterAddr)
	out.RouterTLS = h.TLS
	// Cells skip themselves in a replica set's peer list by region name, so
	// a cell configured under another name would fail over to itself.
	if h.Region != name {
		out.Err = fmt.Errorf("the cell at %s calls itself region %q, not %q: configure it under its own name", c.Endpoint(), h.Region, name)
		return out
	}
	out.Healthy = true
	return out
}

// reachableRouter turns a router listening on every interface
// ("0.0.0.0:7480", ":7480") into an address other cells can dial: the
// host they already reach the cell's API at.
func reachableRouter(endpoint, routerAddr string) string {
	host, port, err := net.SplitHostPort(routerAddr)
	if err != nil || port == "" {
		return ""
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return routerAddr
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// each runs fn with every named region's client of clients (r.clients,
// or r.probes for quick look-ups) in parallel and waits; a name that is
// not configured is skipped (callers validate names first).
func (r *Regions) each(names []string, clients map[string]*Client, fn func(name string, c *Client)) {
	var wg sync.WaitGroup
	for _, name := range names {
		c, ok := clients[name]
		if !ok {
			continue
		}
		wg.Go(func() { fn(name, c) })
	}
	wg.Wait()
}

// RegionsEnv is the environment variable that names the cells of every
// region for the CLI and the provider: "NAME=ENDPOINT[,NAME=ENDPOINT…]".
const RegionsEnv = "PAVED_REGIONS"

// ParseRegions reads the RegionsEnv format into client configs; tokens are
// left empty, so each client takes $PAVED_TOKEN.
func ParseRegions(s string) (map[string]Config, error) {
	out := map[string]Config{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, endpoint, ok := strings.Cut(item, "=")
		if !ok || name == "" || endpoint == "" {
			return nil, fmt.Errorf("%s must be NAME=ENDPOINT pairs separated by commas, e.g. eu=https://paved.eu.example.com; got %q", RegionsEnv, item)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s names region %q twice", RegionsEnv, name)
		}
		out[name] = Config{Endpoint: endpoint}
	}
	return out, nil
}
