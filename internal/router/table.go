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

// normalizeHost is the routing key of a Host value, so that
// "Web.Example.com:8080", "web.example.com." and "web.example.com" route the
// same. The rule (hostKeySpan) keeps the host name or the bracketed IPv6
// literal and drops the port and any trailing dots; letters are folded to
// lower case as ASCII only, the way DNS compares names (a route host is
// ASCII, and Unicode folding would let "\u212aelvin.test" reach
// "kelvin.test"). Normalizing a key again leaves it unchanged, so two
// spellings of one host can never key two routes. It does not allocate
// unless the host contains upper-case letters.
func normalizeHost(host string) string {
	host = hostKeySpan(host)
	for i := range len(host) {
		if 'A' <= host[i] && host[i] <= 'Z' {
			b := []byte(host)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return host
}

// hostKeySpan is the part of a Host value that names the host: a bracketed
// IPv6 literal up to its first ']' ("[::1]:80" → "[::1]"), otherwise
// everything before the first ':' (a host name has no colon; what follows is
// a port, or junk) without trailing dots ("a.test..:80" → "a.test"). The
// result has no port, no trailing dot and keeps its own span, which makes the
// key idempotent. It is shared by normalizeHost and the fast server's
// appendHostKey so that both paths key a request the same.
func hostKeySpan[H string | []byte](host H) H {
	if len(host) > 0 && host[0] == '[' {
		for i := 1; i < len(host); i++ {
			if host[i] == ']' {
				return host[:i+1]
			}
		}
	}
	for i := 0; i < len(host); i++ {
		if host[i] == ':' {
			host = host[:i]
			break
		}
	}
	for len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	return host
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
