package router

import (
	"net/http"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"net/http/httputil"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// table is one immutable routing table. It is never modified after being
// published by Update, except for the atomic counters it points to.
type table struct {
	hosts map[string]hostRoutes // normalized host → its routes

	// states holds the counters of every instance in the table plus the
	// recently removed ones (see statsRetention), keyed by instance ID.
	states map[string]*backendState
}

// hostRoutes are one host's routes, longest prefix first, so the first match
// is the longest one.
type hostRoutes []*route

// route is one (host, path prefix) entry with its instances.
type route struct {
	prefix  string // normalized: "" or "/seg[/seg...]", never a trailing slash
	app     string
	targets []target

	// targets[:stable] are the route's ordinary instances,
	// targets[stable:local] its canaries, which get weight percent of
	// requests, and targets[local:] the peer cells of a global route.
	stable int
	local  int
	weight int
	// split counts requests to spread them over the canary split exactly.
	split atomic.Uint64

	// next rotates the scan start of the least-outstanding pick, so that
	// instances with equal load take turns instead of the first one winning.
	next atomic.Uint32

	// proxy forwards the requests of this route that the lean forwarder
	// does not take (see the package documentation). Its Transport is bound
	// to the route, which saves carrying the route in the request context.
	proxy *httputil.ReverseProxy

	// global routes answer with regionHeader (this cell's region) and may
	// forward to the peers in targets[local:], sending hopHeader.
	global       bool
	regionHeader []string
	hopHeader    []string
}

// mayForward reports whether a request may go to a peer cell: the route is
// global, has peers, and the request did not come from a peer (hopped: it
// carries paved.HopHeader), so there is no forwarding back and forth.
func (rt *route) mayForward(hopped bool) bool {
	return len(rt.targets) != rt.local && !hopped
}

// isHopped reports whether a request came from a peer cell.
func isHopped(h http.Header) bool {
	_, ok := h[paved.HopHeader]
	return ok
}

// target is one instance as seen by one route.
type target struct {
	id    string
	addr  string
	state *backendState // shared by every route listing the same instance ID
	pool  *connPool     // the lean forwarder's connections to addr

	// idHeader is the prebuilt X-Paved-Instance value. It is shared by all
	// responses of this instance and must therefore never be modified; it is
	// only read when the response headers are written to the client.
	idHeader []string
	// region is the prebuilt X-Paved-Region value of a local instance of a
	// global route (nil otherwise); read-only like idHeader.
	region []string
}

// match returns the route with the longest prefix matching path on a segment
// boundary, or nil.
func (hr hostRoutes) match(path string) *route { return matchRoute(hr, path) }

// matchRoute is hostRoutes.match for a path as a string (ServeHTTP) or as
// bytes of the request head (the fast server), without converting.
func matchRoute[P string | []byte](hr hostRoutes, path P) *route {
	for _, rt := range hr {
		if prefixMatch(rt.prefix, path) {
			return rt
		}
	}
	return nil
}

// prefixMatch reports whether path is prefix or lies below it: "/api" matches
// "/api" and "/api/x" but not "/apix". The empty prefix matches everything.
func prefixMatch[P string | []byte](prefix string, path P) bool {
	switch {
	case prefix == "":
		return true
	case len(path) < len(prefix) || string(path[:len(prefix)]) != prefix:
		return false
	default:
		return len(path) == len(prefix) || path[len(prefix)] == '/'
	}
}

// normalizeHost lowercases a Host header value and strips its port, so that
// "Web.Example.com:8080" and "web.example.com" route the same. A trailing
// dot (fully qualified form) is dropped too. It does not allocate unless the
// host contains upper-case letters.
func normalizeHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i] // "[::1]:80" → "[::1]", but "[::1]" stays whole
	}
	host = strings.TrimSuffix(host, ".")
	return strings.ToLower(host)
}

// normalizePrefix turns a configured path into the form prefixMatch expects:
// "" and "/" become "" (match all), "api/" becomes "/api".
func normalizePrefix(p string) string {
	p = strings.TrimRight(p, "/")
	if p != "" && p[0] != '/' {
		p = "/" + p
	}
	return p
}

// buildTable compiles routes into a new table, reusing the counters of
// instances known to old. Duplicate (host, path) pairs: the last one wins.
// Duplicate instance IDs within a route are listed once.
func (r *Router) buildTable(routes []Route, old *table, now time.Time) *table {
	t := &table{
		hosts:  make(map[string]hostRoutes),
		states: make(map[string]*backendState),
	}
	byKey := make(map[[2]string]*route, len(routes))
	for _, in := range routes {
		host, prefix := normalizeHost(in.Host), normalizePrefix(in.Path)
		rt := &route{prefix: prefix, app: in.App, targets: r.buildTargets(nil, in.Backends, old, t.states)}
		rt.stable = len(rt.targets)
		rt.targets = r.buildTargets(rt.targets, in.Canary, old, t.states)
		rt.local = len(rt.targets)
		if in.CanaryWeight > 0 && rt.stable > 0 && rt.stable < rt.local {
			rt.weight = min(in.CanaryWeight, 100)
		}
		if in.Global {
			rt.global = true
			rt.regionHeader, rt.hopHeader = []string{r.opts.Region}, []string{r.opts.Region}
			rt.targets = r.buildTargets(rt.targets, in.Peers, old, t.states)
			for i := range rt.targets[:rt.local] {
				rt.targets[i].region = rt.regionHeader
			}
			for i := rt.local; i < len(rt.targets); i++ {
				rt.targets[i].idHeader = nil // keep the peer's own X-Paved-Instance and X-Paved-Region
			}
		}
		rt.proxy = r.newProxy(rt)
		byKey[[2]string{host, prefix}] = rt
	}
	for key, rt := range byKey {
		t.hosts[key[0]] = append(t.hosts[key[0]], rt)
	}
	for _, hr := range t.hosts {
		slices.SortFunc(hr, func(a, b *route) int { return len(b.prefix) - len(a.prefix) })
	}
	retainRemoved(t.states, old.states, now)
	return t
}

// buildTargets appends a route's backends to targets (skipping IDs already
// there) and resolves them, taking each
// instance's counters from states (this table), then old, then new.
func (r *Router) buildTargets(targets []target, backends []Backend, old *table, states map[string]*backendState) []target {
	for _, b := range backends {
		if slices.ContainsFunc(targets, func(t target) bool { return t.id == b.ID }) {
			continue
		}
		st := states[b.ID]
		if st == nil {
			st = old.states[b.ID]
			if st == nil {
				st = new(backendState)
			}
			st.removedAt = time.Time{} // present again
			states[b.ID] = st
		}
		targets = append(targets, target{id: b.ID, addr: b.Addr, state: st, pool: r.poolFor(b.Addr, b.TLS), idHeader: []string{b.ID}})
	}
	return targets
}

// retainRemoved copies into states the counters of instances that left the
// table but are still draining or were removed recently.
func retainRemoved(states, old map[string]*backendState, now time.Time) {
	for id, st := range old {
		if _, ok := states[id]; ok {
			continue
		}
		if st.removedAt.IsZero() {
			st.removedAt = now
		}
		if st.outstanding.Load() > 0 || now.Sub(st.removedAt) < statsRetention {
			states[id] = st
		}
	}
}

// newProxy builds the ReverseProxy of one route.
func (r *Router) newProxy(rt *route) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:       r.rewriteFn,
		Transport:     &routeTransport{router: r, route: rt},
		FlushInterval: r.opts.FlushInterval,
		ErrorLog:      r.errLog,
		BufferPool:    &r.bufs,
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			r.proxyError(w, req.Context(), rt, err)
		},
	}
}
