package router

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the router's own HTTP/1.1 server: a replacement for
// http.Server{Handler: router} on the request path, with the same Serve,
// Shutdown and Close semantics.
//
// net/http's server costs the router, per request, a goroutine that reads
// the connection in the background while the handler runs, a context, read
// deadline changes, a request with its header map and URL, and a response
// writer that buffers twice. Server instead runs one goroutine per
// connection that parses a request head in place in a pooled bufio.Reader
// (h1request.go), routes it from those bytes, writes it to the instance
// with the lean forwarder and relays a plain response head byte for byte
// to the client's bufio.Writer (h1response.go), which it flushes once per
// response, or once per batch of pipelined requests answered without
// waiting for an instance. Timeouts and the detection of a client that
// goes away while an instance is slow to answer come from one watchdog
// goroutine per server instead of deadlines and goroutines per request
// (h1conn.go).
//
// What the fast path does not take is handed over, connection and all, to
// an http.Server serving the same Router (ServeHTTP) through a listener
// fed by Server: protocol upgrades, Expect, chunked request bodies,
// CONNECT, request targets that are not a plain path, HTTP versions other
// than 1.0 and 1.1 (including the HTTP/2 preface), TLS connections whose
// ALPN chose another protocol than HTTP/1.1, and every connection when
// Options.FlushInterval is positive. TLS connections (from a tls.NewListener)
// are otherwise served by the fast path once it has completed the handshake. The bytes read
// so far are replayed to it, so it sees the connection from the start of
// the request. Malformed requests are answered 400 (or 431 for a head over
// MaxHeaderBytes) and the connection closed; the parser also rejects what
// request smuggling relies on: both Content-Length and Transfer-Encoding,
// differing Content-Lengths, obsolete line folding, invalid bytes in names
// or values, several Host headers.
//
// On Linux, Serve on a TCP listener runs event loops (lane_linux.go) in
// front of all this: they serve the common request without a goroutine and
// hand every other connection, at the request or response they do not take,
// to the goroutines described above. DisableEventLoop turns them off.
//
// Differences from net/http's server that clients can see: response
// header names from an instance keep their case and order, and a response
// without Content-Type does not get a sniffed one.
type Server struct {
	Router *Router

	// ReadHeaderTimeout bounds the reading of a request head, from the
	// connection's accept or the first byte of a later request. Zero means
	// no limit.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle for that long. Zero
	// means no limit.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request head (request line and headers);
	// larger ones are answered 431. Default http.DefaultMaxHeaderBytes
	// (1 MiB), with net/http's 4 KiB of slack.
	MaxHeaderBytes int

	// DisableEventLoop serves every connection with a goroutine, as on
	// systems other than Linux. By default Serve runs event loops for a
	// TCP listener on Linux (lane_linux.go).
	DisableEventLoop bool
	// EventLoops is the number of event loops; default GOMAXPROCS (at
	// most 16).
	EventLoops int

	init1     sync.Once
	headLimit int

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*h1Conn]struct{}
	shutdown  atomic.Bool
	closing   atomic.Bool   // Close: every connection goes at once
	stopping  chan struct{} // closed by the first Shutdown or Close
	stopOnce  sync.Once
	lanes     []*lane
	laneConns atomic.Int64 // connections the event loops serve

	// The watchdog's coarse clock: tick counts periods of tickEvery.
	tick       atomic.Uint64
	tickEvery  time.Duration
	headTicks  uint64 // ReadHeaderTimeout in ticks (0: none)
	idleTicks  uint64 // IdleTimeout in ticks (0: none)
	newIdle    uint64 // a new connection without a byte counts as idle for Shutdown after this
	wdStart    sync.Once
	wdStopOnce sync.Once
	wdStop     chan struct{}

	// The net/http fallback, started on the first hand-over.
	fbMu     sync.Mutex
	fallback *http.Server
	fbLn     *handoffListener
	fbClosed bool

	handoffs atomic.Int64 // connections handed over (for tests)
}

// Pools of client connection buffers. 4 KiB is net/http's size; longer
// request heads are read out of the buffer (see readHead).
var (
	readerPool sync.Pool
	writerPool sync.Pool
)

const (
	clientBufSize = 4 << 10

	// maxPostHandlerReadBytes is how much of a request body the server
	// reads and discards to keep the connection after answering without
	// it (net/http's value); more and the connection is closed.
	maxPostHandlerReadBytes = 256 << 10
)

func (s *Server) initOnce() {
	s.init1.Do(func() {
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[*h1Conn]struct{})
		s.wdStop = make(chan struct{})
		s.stopping = make(chan struct{})
		max := s.MaxHeaderBytes
		if max <= 0 {
			max = http.DefaultMaxHeaderBytes
		}
		s.headLimit = max + 4096
		// Timeouts are enforced to within a tick; the tick also delays the
		// watch of a slow exchange (see h1Conn.check).
		s.tickEvery = 50 * time.Millisecond
		for _, d := range []time.Duration{s.ReadHeaderTimeout, s.IdleTimeout} {
			if d > 0 && d/5 < s.tickEvery {
				s.tickEvery = max2(d/5, time.Millisecond)
			}
		}
		s.headTicks = s.ticksFor(s.ReadHeaderTimeout)
		s.idleTicks = s.ticksFor(s.IdleTimeout)
		s.newIdle = s.ticksFor(5 * time.Second) // net/http's rule for StateNew connections
		s.tick.Store(1)
	})
}

func max2(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// ticksFor converts a timeout to ticks, 0 meaning none.
func (s *Server) ticksFor(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + s.tickEvery - 1) / s.tickEvery)
}

// Serve accepts connections on ln and serves them until Shutdown or Close,
// after which it returns http.ErrServerClosed, like http.Server.Serve.
// With event loops (a *net.TCPListener on Linux) the loops accept on a
// duplicate of ln's socket, and Serve watches ln to close it too when ln is
// closed (within a tick of the server's clock).
func (s *Server) Serve(ln net.Listener) error {
	s.initOnce()
	if !s.trackListener(&ln, true) {
		return http.ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	s.wdStart.Do(func() { go s.watchdog() })
	if ok, err := s.serveLane(ln); ok {
		return err
	}
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return http.ErrServerClosed
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// Out of file descriptors and the like: back off as
				// net/http does.
				delay = min(max2(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if fc := s.newConn(c); fc != nil {
			go fc.serve()
		}
	}
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutdown.Load() {
			return false
		}
		s.listeners[ln] = struct{}{}
	} else {
		delete(s.listeners, ln)
	}
	return true
}

func (s *Server) closeListeners() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for ln := range s.listeners {
		if cerr := (*ln).Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// forget removes a finished or handed-over connection.
func (s *Server) forget(fc *h1Conn) {
	s.mu.Lock()
	delete(s.conns, fc)
	s.mu.Unlock()
}

// Shutdown stops accepting connections, closes idle ones and waits for the
// others to finish their request (their response says Connection: close),
// then shuts the fallback http.Server down. If ctx expires first it
// returns ctx.Err(); connections still busy are left running (see Close).
func (s *Server) Shutdown(ctx context.Context) error {
	s.initOnce()
	s.shutdown.Store(true)
	// The listeners close before the loops are told to stop, so that no
	// socket of the server still listens once Serve has returned.
	lnerr := s.closeListeners()
	s.stop()
	wait := time.Millisecond
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for !s.closeIdle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			wait = min(2*wait, 500*time.Millisecond)
			timer.Reset(wait)
		}
	}
	// No fast connection is left to hand one over.
	if fb := s.closeFallback(); fb != nil {
		if err := fb.Shutdown(ctx); err != nil {
			return err
		}
	}
	s.stopWatchdog()
	return lnerr
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	now := s.tick.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	for fc := range s.conns {
		v := fc.state.Load()
		ph, since := phaseOf(v), v>>phaseBits
		if ph == phIdle || (ph == phNew && now-since >= s.newIdle) {
			if fc.state.CompareAndSwap(v, pack(phClosed, now)) {
				fc.conn.Close()
			}
		}
	}
	return len(s.conns) == 0 && s.laneConns.Load() == 0
}

// stop tells Serve and the event loops that the server is shutting down.
func (s *Server) stop() {
	s.stopOnce.Do(func() { close(s.stopping) })
	s.mu.Lock()
	lanes := s.lanes
	s.mu.Unlock()
	for _, l := range lanes {
		l.wake()
	}
}

// Close closes the listeners and every connection at once, and the
// fallback http.Server.
func (s *Server) Close() error {
	s.initOnce()
	s.closing.Store(true)
	s.shutdown.Store(true)
	err := s.closeListeners() // before stop, as in Shutdown
	s.stop()
	s.mu.Lock()
	for fc := range s.conns {
		fc.conn.Close()
	}
	s.mu.Unlock()
	if fb := s.closeFallback(); fb != nil {
		fb.Close()
	}
	s.stopWatchdog()
	return err
}

func (s *Server) stopWatchdog() {
	s.wdStopOnce.Do(func() { close(s.wdStop) })
}

// watchdog advances the coarse clock and applies, once per tick, the
// timeouts and the client watch to every connection (h1Conn.check). One
// goroutine per server replaces per-request deadlines and the per-request
// background read of net/http.
func (s *Server) watchdog() {
	t := time.NewTicker(s.tickEvery)
	defer t.Stop()
	for {
		select {
		case <-s.wdStop:
			return
		case <-t.C:
		}
		now := s.tick.Add(1)
		s.mu.Lock()
		for fc := range s.conns {
			fc.check(now)
		}
		s.mu.Unlock()
	}
}

// newConn registers an accepted connection, or closes it during shutdown.
func (s *Server) newConn(c net.Conn) *h1Conn {
	fc := &h1Conn{s: s, r: s.Router, conn: c}
	fc.stv = pack(phNew, s.tick.Load())
	fc.state.Store(fc.stv)
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		c.Close()
		return nil
	}
	s.conns[fc] = struct{}{}
	s.mu.Unlock()
	return fc
}

// handOff gives a connection to the fallback http.Server, starting it on
// first use.
func (s *Server) handOff(c net.Conn) {
	s.handoffs.Add(1)
	s.fbMu.Lock()
	if s.fbClosed {
		s.fbMu.Unlock()
		c.Close()
		return
	}
	if s.fallback == nil {
		r := s.Router
		s.fbLn = &handoffListener{addr: c.LocalAddr(), conns: make(chan net.Conn), done: make(chan struct{})}
		s.fallback = &http.Server{
			Handler:           handoffHandler{r},
			ConnContext:       handoffContext,
			ReadHeaderTimeout: s.ReadHeaderTimeout,
			IdleTimeout:       s.IdleTimeout,
			MaxHeaderBytes:    s.MaxHeaderBytes,
			ErrorLog:          r.errLog,
		}
		fb, fbLn := s.fallback, s.fbLn
		go func() { _ = fb.Serve(fbLn) }() // returns only when shut down (ErrServerClosed, or net.ErrClosed from fbLn)
	}
	ln := s.fbLn
	s.fbMu.Unlock()
	if !ln.deliver(c) {
		c.Close()
	}
}

// closeFallback forbids further hand-overs and returns the fallback server,
// if it was started.
func (s *Server) closeFallback() *http.Server {
	s.fbMu.Lock()
	defer s.fbMu.Unlock()
	s.fbClosed = true
	return s.fallback
}

// handoffListener feeds handed-over connections to the fallback server.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

func (l *handoffListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// handoffConn is a handed-over connection: the bytes the fast server had
// already read, then the socket.
type handoffConn struct {
	net.Conn
	prefix []byte
	// tlsState is set when Conn is a *tls.Conn the fast server handshook:
	// net/http only recognizes a bare *tls.Conn, so the state travels in
	// the connection's context to handoffHandler.
	tlsState *tls.ConnectionState
}

type handoffTLSKey struct{}

// handoffContext is the fallback server's ConnContext: it carries the TLS
// state of a wrapped TLS connection.
func handoffContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*handoffConn); ok && hc.tlsState != nil {
		return context.WithValue(ctx, handoffTLSKey{}, hc.tlsState)
	}
	return ctx
}

// handoffHandler serves the fallback's requests with the router, setting
// req.TLS for those of a wrapped TLS connection, so that X-Forwarded-Proto
// says https on this path too.
type handoffHandler struct{ r *Router }

func (h handoffHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.TLS == nil {
		if st, ok := req.Context().Value(handoffTLSKey{}).(*tls.ConnectionState); ok {
			req.TLS = st
		}
	}
	h.r.ServeHTTP(w, req)
}

func (c *handoffConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets net/http half-close before closing, which it does so a
// client still sending sees the response rather than a reset.
func (c *handoffConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
