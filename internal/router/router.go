package router

import (
	"crypto/tls"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// InstanceHeader is the response header naming the instance that served a
// proxied response. It helps debugging and lets canary tooling attribute
// responses.
const InstanceHeader = "X-Paved-Instance"

// Backend is one healthy instance that may receive traffic.
type Backend struct {
	ID   string // instance id; echoed to clients in the X-Paved-Instance response header
	Addr string // host:port, e.g. 127.0.0.1:41234
	// TLS makes the lean forwarder speak HTTPS to Addr, verified with
	// Options.PeerTLS: set for the peer routers of a TLS cell. Instances
	// are local plain-HTTP processes and never set it.
	TLS bool
}

// Route maps a host and path prefix to the healthy instances of one app.
type Route struct {
	Host     string    // matched case-insensitively, port in the request Host ignored
	Path     string    // path prefix, "" or "/" matches everything; "/api" matches /api and /api/x, not /apix
	App      string    // "space/app", used in error bodies and stats
	Backends []Backend // only healthy instances; empty means the app has no healthy instance → 502

	// Canary instances get CanaryWeight percent of the route's requests and
	// Backends the rest (a canary deploy's traffic split). With a weight of
	// 0, or when one side has no instance, all instances share the traffic
	// by load as usual.
	Canary       []Backend
	CanaryWeight int

	// Global marks a replica set's global host. Its requests are answered
	// by local instances first; when none is healthy or every one fails to
	// connect, they go to Peers (routers of other cells of the set), unless
	// the request already carries paved.HopHeader, i.e. came from a peer.
	// Responses carry paved.RegionHeader naming the region that served.
	Global bool
	Peers  []Backend // ID names the peer (e.g. "peer/gcp-europe-west2"), Addr is its router
}

// Options configures a Router. The zero value is usable.
type Options struct {
	Logger      *slog.Logger  // nil = discard
	Region      string        // this cell's region, sent to peers in paved.HopHeader and to clients in paved.RegionHeader
	DialTimeout time.Duration // default 2s

	// IdleConnTimeout is how long an idle keep-alive connection to an
	// instance stays pooled. Default 90s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerBackend bounds the keep-alive pool per instance address.
	// Default 256, large enough that a busy instance rarely needs a new dial.
	MaxIdleConnsPerBackend int
	// ResponseHeaderTimeout, if positive, fails an attempt whose response
	// headers take longer than this. Default 0: no limit, because apps may
	// legitimately long-poll.
	ResponseHeaderTimeout time.Duration
	// FlushInterval is how often a response is flushed to the client while
	// its body is copied. A positive value sends every request through the
	// ReverseProxy path, which implements periodic flushing. Default 0:
	// responses are flushed when the copy buffer fills, except
	// text/event-stream and unknown-length (streamed) responses, which are
	// flushed after every write. -1 flushes every response immediately.
	FlushInterval time.Duration
	// MaxReplayBody is the largest request body (by Content-Length) that is
	// buffered so the request can be retried on another instance. Default
	// 64 KiB; negative disables buffering (bodies are then replayable only
	// while unread, i.e. after connect failures).
	MaxReplayBody int64
	// FailureCooldown is how long an instance that refused a connection is
	// avoided; it is still used when every other instance of the route is
	// tried or cooling down. It saves a doomed dial per request between an
	// instance dying and the health checker removing it. Default 1s;
	// negative disables.
	FailureCooldown time.Duration
	// TrustForwarded keeps client-supplied X-Forwarded-For/-Host/-Proto,
	// appending to X-Forwarded-For, for deployments where the router sits
	// behind another proxy. Default false: the router is the edge and
	// replaces them, so clients cannot spoof their address.
	TrustForwarded bool
	// PeerTLS is the client TLS configuration for backends with TLS set
	// (peer routers): the roots to trust, mainly. Its ServerName is set per
	// address from the host part. Nil means the system roots.
	PeerTLS *tls.Config
}

// Defaults for Options fields left zero.
const (
	defaultDialTimeout     = 2 * time.Second
	defaultIdleConnTimeout = 90 * time.Second
	defaultMaxIdlePerHost  = 256
	defaultMaxReplayBody   = 64 << 10
	defaultFailureCooldown = time.Second

	// statsRetention is how long counters of an instance that left the
	// table are kept, so Stats/Outstanding keep answering during a drain
	// or a canary evaluation that happens after the instance was removed.
	statsRetention = 5 * time.Minute
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = defaultIdleConnTimeout
	}
	if o.MaxIdleConnsPerBackend <= 0 {
		o.MaxIdleConnsPerBackend = defaultMaxIdlePerHost
	}
	if o.MaxReplayBody == 0 {
		o.MaxReplayBody = defaultMaxReplayBody
	}
	if o.FailureCooldown == 0 {
		o.FailureCooldown = defaultFailureCooldown
	}
	return o
}

// BackendStats are the counters of one instance, for canary error-rate gates
// and draining. Counters are cumulative since the instance first appeared in
// a routing table.
type BackendStats struct {
	Requests        int64 // attempts sent to the instance, including failed ones
	Responses5xx    int64 // responses from the instance with status >= 500
	FailedConnects  int64 // attempts that could not connect (refused, dial timeout)
	TransportErrors int64 // attempts whose connection broke before a response
	Outstanding     int64 // requests in flight (until the response body is done)
}

// Router is an http.Handler that forwards requests to app instances.
// Create it with New; it is safe for concurrent use.
type Router struct {
	opts      Options
	log       *slog.Logger
	transport *http.Transport // the ReverseProxy fallback's
	dialer    *net.Dialer     // the lean forwarder's
	table     atomic.Pointer[table]

	// mu serializes Update so concurrent updates cannot lose each other's
	// counters, and guards pools. It is never taken on the request path.
	mu sync.Mutex
	// pools are the lean forwarder's keep-alive pools by instance address
	// (and TLS, so a peer that switches to HTTPS gets fresh connections);
	// targets point at theirs, so requests never look them up.
	pools map[poolKey]*connPool

	// Shared by every per-route ReverseProxy; built once so that creating
	// proxies on Update does not allocate closures per request.
	rewriteFn func(*httputil.ProxyRequest)
	errLog    *log.Logger
	bufs      bufferPool
}

// New returns a Router with an empty table: every request gets a 404 until
// Update is called.
func New(opts Options) *Router {
	opts = opts.withDefaults()
	r := &Router{
		opts:      opts,
		log:       opts.Logger,
		transport: newTransport(opts),
		dialer:    &net.Dialer{Timeout: opts.DialTimeout},
		pools:     make(map[poolKey]*connPool),
		// ReverseProxy only logs body-copy errors, which are mostly clients
		// going away mid-response: not worth more than debug.
		errLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	r.rewriteFn = r.rewrite
	r.table.Store(&table{})
	return r
}

// newTransport builds the one keep-alive transport shared by all routes.
// Instances are plain-HTTP local processes, so: no proxy from the
// environment, no HTTP/2, no transparent gzip (bodies pass through as-is).
func newTransport(o Options) *http.Transport {
	d := &net.Dialer{Timeout: o.DialTimeout}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
		MaxIdleConns:          0, // no global cap; the per-instance cap applies
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerBackend,
		IdleConnTimeout:       o.IdleConnTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
	}
}

// Update replaces the whole routing table atomically. Requests already being
// served finish against the table they started with. Counters of instances
// present before are kept (matched by Backend.ID).
func (r *Router) Update(routes []Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.buildTable(routes, r.table.Load(), time.Now())
	r.table.Store(t)
	r.retirePools(t)
}

// poolKey identifies a keep-alive pool.
type poolKey struct {
	addr string
	tls  bool
}

// poolFor returns the keep-alive pool of a backend address, creating it.
// Called with r.mu held.
func (r *Router) poolFor(addr string, useTLS bool) *connPool {
	key := poolKey{addr, useTLS}
	p := r.pools[key]
	if p == nil {
		p = newConnPool(addr, r.dialer, r.opts)
		if useTLS {
			p.tls = clientTLSFor(r.opts.PeerTLS, addr)
			p.handshakeTimeout = r.opts.DialTimeout
		}
		r.pools[key] = p
	}
	return p
}

// clientTLSFor is base (or a default) for dialing addr: TLS 1.2 at least,
// HTTP/1.1 only (the lean forwarder speaks nothing else), and the host of
// addr as the name to verify (an IP is checked against IP SANs).
func clientTLSFor(base *tls.Config, addr string) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.NextProtos = []string{"http/1.1"}
	if c.ClientSessionCache == nil {
		// Resumption makes the reconnect after an idle timeout cheap.
		c.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	}
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	return c
}

// retirePools drops the pools of addresses t no longer routes to, closing
// their idle connections. Requests still in flight to such an address finish
// normally; their connections are closed instead of pooled. Called with r.mu
// held.
func (r *Router) retirePools(t *table) {
	live := make(map[*connPool]bool, len(r.pools))
	for _, hr := range t.hosts {
		for _, rt := range hr {
			for i := range rt.targets {
				live[rt.targets[i].pool] = true
			}
		}
	}
	for key, p := range r.pools {
		if !live[p] {
			p.retire()
			delete(r.pools, key)
		}
	}
}

// ServeHTTP routes and forwards one request.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	host := normalizeHost(req.Host)
	t := r.table.Load()
	routes, ok := t.hosts[host]
	if !ok {
		r.serveUnknownHost(w, t, host, req.Method, req.URL.Path)
		return
	}
	rt := routes.match(req.URL.Path)
	if rt == nil {
		noRouteForPath(w, host, req.URL.Path)
		return
	}
	lean := r.leanOK(req)
	hopped := isHopped(req.Header)
	if rt.local == 0 && (!lean || !rt.mayForward(hopped)) {
		noHealthyInstance(w, rt)
		return
	}
	if !lean {
		rt.proxy.ServeHTTP(w, req)
		return
	}
	var out outReq
	out.fromRequest(req, hopped, r.opts.MaxReplayBody)
	if err := r.forward(w, &out, rt); err != nil && req.Context().Value(http.ServerContextKey) != nil {
		// Under an http.Server: abort, so the client sees a truncated
		// response rather than a complete-looking one.
		panic(http.ErrAbortHandler)
	}
}

// The router's own answers, shared by both front ends.

// serveUnknownHost answers a host without routes: the router's probe, or 404.
func (r *Router) serveUnknownHost(w http.ResponseWriter, t *table, host, method, path string) {
	if host == ProbeHost {
		r.serveProbe(w, method, path, t)
		return
	}
	plainError(w, http.StatusNotFound, fmt.Sprintf("paved: no route for host %q", host))
}

func noRouteForPath(w http.ResponseWriter, host, path string) {
	plainError(w, http.StatusNotFound, fmt.Sprintf("paved: no route for %q on host %q", path, host))
}

func noHealthyInstance(w http.ResponseWriter, rt *route) {
	plainError(w, http.StatusBadGateway, fmt.Sprintf("paved: app %q has no healthy instance", rt.app))
}

// Stats returns the counters of an instance, or zeros for an unknown one.
func (r *Router) Stats(backendID string) BackendStats {
	if st := r.table.Load().states[backendID]; st != nil {
		return st.snapshot()
	}
	return BackendStats{}
}

// Outstanding returns the number of requests in flight to an instance. After
// removing an instance with Update, wait for this to reach zero before
// stopping it.
func (r *Router) Outstanding(backendID string) int64 {
	if st := r.table.Load().states[backendID]; st != nil {
		return st.outstanding.Load()
	}
	return 0
}

// Close closes idle pooled connections to instances. Requests in flight are
// not interrupted; the Router remains usable (new connections are dialed).
func (r *Router) Close() {
	r.mu.Lock()
	for _, p := range r.pools {
		p.closeIdle()
	}
	r.mu.Unlock()
	r.transport.CloseIdleConnections()
}

// rewrite prepares the outbound request; the instance address is filled in
// per attempt by the route transport. The original Host header is kept:
// ReverseProxy's clone already carries In.Host in Out.Host, and we only ever
// set Out.URL.Host.
func (r *Router) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	if r.opts.TrustForwarded {
		setForwardedTrusted(pr)
		return
	}
	setForwarded(pr.Out.Header, pr.In)
}

// Read-only X-Forwarded-Proto values shared by all requests; the outbound
// header map is only read by the transport.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// setForwarded sets X-Forwarded-For/-Host/-Proto for a router that is the
// edge (ReverseProxy already dropped client-supplied values). It does what
// ProxyRequest.SetXForwarded does with one allocation instead of three.
func setForwarded(h http.Header, in *http.Request) {
	// Both per-request values share one backing array; each slice is capped
	// so an append to one can never overwrite the other.
	vals := make([]string, 2)
	vals[0], vals[1] = in.Host, clientIP(in.RemoteAddr)
	h["X-Forwarded-Host"] = vals[0:1:1]
	if vals[1] != "" {
		h["X-Forwarded-For"] = vals[1:2:2]
	}
	if in.TLS != nil {
		h["X-Forwarded-Proto"] = protoHTTPS
	} else {
		h["X-Forwarded-Proto"] = protoHTTP
	}
}

// clientIP returns the IP part of a RemoteAddr, or "" if it has none.
func clientIP(remoteAddr string) string {
	ip, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return ""
	}
	return ip
}

// setForwardedTrusted extends the X-Forwarded-* set by a proxy in front of
// the router. ReverseProxy stripped the inbound values; restore them so
// SetXForwarded appends to the X-Forwarded-For chain, then keep the front
// proxy's view of the original host and scheme.
func setForwardedTrusted(pr *httputil.ProxyRequest) {
	in := pr.In.Header
	pr.Out.Header["X-Forwarded-For"] = in["X-Forwarded-For"]
	pr.SetXForwarded()
	if v := in["X-Forwarded-Host"]; len(v) > 0 {
		pr.Out.Header["X-Forwarded-Host"] = v
	}
	if v := in["X-Forwarded-Proto"]; len(v) > 0 {
		pr.Out.Header["X-Forwarded-Proto"] = v
	}
}

// plainError writes a short plain-text error produced by the router itself.
func plainError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}
