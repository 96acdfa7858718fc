// Package router is paved's HTTP data plane. It receives client requests on
// the router's own port, maps the request's Host and path to an app, and
// forwards the request to one of that app's healthy instances, which are
// local processes listening on 127.0.0.1:PORT (or, for a global route, to
// the router of a peer cell).
//
// # Map
//
// Three layers. The lane gives what it does not take to Server, Server to
// an http.Server calling ServeHTTP; all of them route, pick instances and
// count through the routing policy.
//
// Routing policy (router.go, table.go, balance.go, probe.go). Router holds
// an immutable *table behind an atomic.Pointer: Update compiles []Route
// with buildTable and swaps it in, so routing takes no lock (a connPool's
// short mutex is the only one on the request path). table.hosts maps a
// host key to its hostRoutes, longest prefix first; matchRoute and
// prefixMatch pick the longest prefix on a segment boundary. A route's
// targets are [0:stable] its instances, [stable:local] its canaries, to
// which pick sends weight percent of requests by an exact counter split,
// and [local:] the peer cells of a Global route, tried by pickPeer once no
// local instance is left (mayForward: never for a request carrying
// paved.HopHeader). ProbeHost answers GlobalStatus (serveProbe).
// Each instance's backendState (outstanding, 5xx, failed connects,
// cooldown) is shared by every route and table that lists its ID, and
// kept for statsRetention after the instance left, for draining: pick
// takes the least outstanding instance, cooling ones last; recordFailure
// counts a failed attempt and says whether another may be tried; Stats and
// Outstanding read it. The lean forwarder (forward.go: forward, exchange,
// roundTrip, readResponse, relay) exchanges a request over a pconn from
// the instance's connPool (pool.go); what it does not take goes through
// the route's httputil.ReverseProxy and routeTransport (transport.go);
// proxyError turns a failed forward into the router's error page.
// ServeHTTP serves any http.Server this way, its outReq built from an
// *http.Request.
//
// The HTTP/1.1 server, Server (serve.go, h1conn.go, h1request.go,
// h1response.go, head.go): a goroutine per connection (h1Conn.serve,
// loop) reads a head in place in a pooled bufio.Reader (readHead),
// validates it (h1Request.parse: 400 for what is malformed or could be
// read two ways), routes it from the bytes (serveRequest, appendHostKey)
// and calls forward with outReq.fc set: h1Conn.writeRequest writes the
// instance's request from the client's bytes, scanHead checks a plain
// response head in place and h1Conn.writeRawHead relays it; anything else
// (router answers, chunked, 1xx) goes through h1Resp with net/http's
// framing. One watchdog goroutine per Server applies the timeouts and
// watches clients of slow exchanges (h1Conn.check, watch). A connection
// the fast path does not take is handed, with every byte read so far
// (handoffConn), to an http.Server serving the Router (handOff,
// handoffListener, handoffHandler).
//
// The event-loop lane (lane_linux.go; lane.go, lane_other.go): on Linux,
// Serve on a *net.TCPListener runs EventLoops epoll loops (serveLane,
// loop) unless DisableEventLoop is set or Options.FlushInterval positive.
// A loop serves, without a goroutine, a GET or HEAD without a body for a
// route with local instances and no peers to fall back to
// (laneClient.start; headEnd finds the head) that a plain response head
// answers (scanBlock, in laneUp.relay), over its own idle connections
// (laneUp, lanePool, which follows connPool's cap, closeIdle and retire
// through connPool.gen, laneIdle and retired). Everything else leaves the
// loop, one way, for the goroutines: leave → Server.adopt at a request it
// does not take (the socket, the responses not yet written, the bytes read
// from that request on); resume → Server.resume → h1Conn.finishExchange at
// a response head it does not relay (the request's head, which is parsed
// again, and the instance connection with the bytes read from it).
//
// # What the layers share
//
//   - Host keys: normalizeHost (table, ServeHTTP) and appendHostKey (Server,
//     lane) apply one rule, hostKeySpan; paths match by matchRoute.
//   - Request heads: h1Request.parse for Server (readRequest), the lane
//     (start) and resume; h1Conn.writeRequest writes them to the instance
//     for both (a laneClient embeds the h1Conn, fc, that this code and
//     the response side work on).
//   - Response heads: scanBlock validates a plain one for scanHead (Server,
//     and readHeadFast for ServeHTTP, which then calls commitHead) and for the
//     lane's laneUp.relay; writeRawHead relays it for Server and the lane
//     (gotHead); http.ReadResponse reads every other one. These parsers
//     of untrusted bytes have fuzz targets against net/http
//     (fuzz_h1_test.go).
//   - Instances: route.pick, recordFailure, backendState.answered and the
//     outstanding count; upstreamError and proxyError for the error page;
//     bodilessByRule marks a connection suspect. connPool is an instance
//     address's pool for the lean forwarder, and the lane's lanePool
//     defers to it; the ReverseProxy path has http.Transport's.
//
// # Forwarding
//
// The common path is a lean, synchronous HTTP/1.1 client (forward.go) that
// runs entirely on the handler's goroutine: it takes an idle connection from
// the instance's keep-alive pool (pool.go) or dials one, writes the request
// line and headers straight into the connection's bufio.Writer (hop-by-hop
// headers and those named in Connection removed, X-Forwarded-* set, Host
// kept, Te: trailers kept, no User-Agent added), then the body (buffered,
// Content-Length or chunked with a flush per chunk), flushes once, and reads
// the response on the connection's bufio.Reader. A plain response head
// (HTTP/1.1, one Content-Length or no body, no Transfer-Encoding or Trailer,
// few well-formed headers, see readHeadFast) is parsed straight into the
// client's header map (relayed as it came by Server) and its body copied
// without further allocation; anything else is read with http.ReadResponse
// (chunked and close-delimited bodies, trailers, 1xx responses, which are
// relayed). The response goes to the client with X-Paved-Instance,
// hop-by-hop headers removed, and text/event-stream or unknown-length
// bodies flushed after every write. The connection returns to the pool
// only when the body was read to its end and the response allows
// keep-alive; otherwise it is closed. The instance counts as outstanding
// until the response body has been written.
//
// The pool is a LIFO stack of idle connections per instance address, capped
// at Options.MaxIdleConnsPerBackend, whose connections idle for
// Options.IdleConnTimeout are closed by a timer. Pools of addresses that
// leave the routing table are closed. No goroutine watches an idle
// connection, so a connection the instance closed (restart, its own
// keep-alive timeout) is found out when next used: before sending a request
// that could not be resent (see below), and before using a connection idle
// for over a second or after a bodyless (HEAD, 204, 304) response, a
// non-blocking peek checks it; otherwise the failed exchange itself reveals
// it. Either way the request goes out again on a fresh connection to the
// same instance when net/http would resend it: nothing came back, and
// nothing was written or the request is idempotent, with a replayable body.
// Such a resend is not counted as a failed attempt; if the fresh dial fails
// too, that is a failed connect and the next instance is tried. A client
// that goes away cancels the exchange at once (context.AfterFunc moves the
// connection's deadline to the past), and Options.ResponseHeaderTimeout and
// DialTimeout bound the wait for the instance as http.Transport does.
//
// Requests the lean path does not take go through the route's
// httputil.ReverseProxy on a shared http.Transport:
//
//   - protocol upgrades (Connection: Upgrade, e.g. WebSocket), which need the
//     101 handling and bidirectional copy;
//   - Expect: 100-continue with a body that is not buffered (larger than
//     Options.MaxReplayBody, or chunked), where the instance's early answer
//     matters; smaller bodies are buffered and the Expect header dropped;
//   - requests with trailers, CONNECT, and opaque request URIs;
//   - every request when Options.FlushInterval is positive (periodic
//     flushing).
//
// The lean path writes the whole request before reading the response. An
// instance that answers a large upload early and closes the connection
// (413, 401) has its answer relayed once the write fails; one that neither
// reads nor closes holds the request until the client gives up.
//
// # Retries
//
// A request is retried on another instance of its route (each instance at
// most once) when the attempt failed before any response was received and
//
//   - the instance could not be connected to (dial error: connection refused,
//     dial timeout) — nothing reached the instance, so any request is safe to
//     resend; or
//   - the connection broke before a response (an instance killed
//     mid-request, a response header timeout) and the method is idempotent
//     (GET, HEAD, OPTIONS, TRACE, or an Idempotency-Key or
//     X-Idempotency-Key header), as net/http does.
//
// and the request body can be replayed:
//
//   - no body; or
//   - a body with a declared Content-Length of at most Options.MaxReplayBody
//     (64 KiB by default), which is read into memory before the first
//     attempt (on the ReverseProxy path it is offered to http.Transport
//     through GetBody, so the transport's own "pooled connection was dead"
//     resend works as well); or
//   - a larger or chunked body that has not been read at all yet, which is
//     always the case after a dial error since the body is only read once
//     connected.
//
// A response whose headers were received is never retried, whatever its
// status. When every attempt fails the client gets a 502 with a plain-text
// body naming the app (504 when Options.ResponseHeaderTimeout expired).
package router
