package router

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"time"
)

// h1Conn is one client connection of the fast server, served by one
// goroutine (serve) from accept to close or hand-over.
//
// Its phase, with the watchdog tick at which it began, is one atomic word
// shared with the server's watchdog goroutine (Server.watchdog), which
// closes connections whose header read or idle time exceeded its timeout,
// and starts a watch of the client when a request has been waiting for its
// instance for over a tick: a goroutine reading the client connection, as
// net/http's background read does, so that a client that goes away
// cancels the exchange. The serving goroutine changes phase by
// compare-and-swap from the value it last stored, so it notices at once
// when the watchdog changed the phase under it.
type h1Conn struct {
	s    *Server
	r    *Router
	conn net.Conn
	br   *bufio.Reader // reads through h1Conn.Read
	bw   *bufio.Writer // writes to conn

	ctx    context.Context // canceled when the client is gone
	cancel context.CancelFunc
	ip     string // client IP, for X-Forwarded-For ("" when RemoteAddr has none)
	ipOK   bool   // RemoteAddr has the host:port form

	state atomic.Uint64 // pack(phase, tick)
	stv   uint64        // the value this goroutine last stored

	req     h1Request
	resp    h1Resp
	body    h1Body
	out     outReq
	rh      scannedHead // the instance's response head, scanned in place
	keyBuf  []byte      // normalized Host, the routing key
	headBuf []byte      // a request head copied out of br (requests with a body)

	// tlsState is the handshake's result on a TLS connection (nil on a
	// plain one): X-Forwarded-Proto says https, and a hand-over passes it
	// on to net/http.
	tlsState *tls.ConnectionState

	closeAfter bool // answer with Connection: close and close
	unreadBody bool // closing with request body bytes left: half-close first
	handedOff  bool

	// The client watch (see watchExchange).
	watchArmed bool                  // the current request may be watched
	cur        atomic.Pointer[pconn] // connection of the exchange in progress
	watched    *pconn
	gone       atomic.Bool   // the client went away
	stopping   atomic.Bool   // the watcher is being stopped
	watchDone  chan struct{} // the watcher goroutine finished
	stash      [1]byte       // a byte the watcher read: the next request's
	hasStash   bool
	unwatchFn  func() bool
}

// Phases of a connection.
const (
	phNew       uint64 = iota // accepted, no byte of the first request yet
	phIdle                    // waiting for the next request
	phHead                    // reading a request head
	phActive                  // serving a request
	phWatchable               // serving, the request fully read: may be watched
	phWatching                // serving, a watcher goroutine reads the client
	phClosed                  // closed by the watchdog or Shutdown

	phaseBits = 3
)

func pack(ph, tick uint64) uint64 { return tick<<phaseBits | ph }
func phaseOf(v uint64) uint64     { return v & (1<<phaseBits - 1) }

// move changes the phase from the one this goroutine last stored; false
// means the watchdog or Shutdown closed the connection (or started a
// watcher) meanwhile.
func (fc *h1Conn) move(ph uint64) bool {
	v := pack(ph, fc.s.tick.Load())
	if !fc.state.CompareAndSwap(fc.stv, v) {
		return false
	}
	fc.stv = v
	return true
}

// check applies the timeouts and starts the client watch; it runs on the
// watchdog goroutine, once per tick.
func (fc *h1Conn) check(now uint64) {
	s := fc.s
	v := fc.state.Load()
	since := v >> phaseBits
	var limit uint64
	switch phaseOf(v) {
	case phNew, phHead:
		limit = s.headTicks
	case phIdle:
		limit = s.idleTicks
	case phWatchable:
		// Watch a request only once it has waited a full tick: fast
		// exchanges, nearly all of them, never pay for a goroutine.
		if now-since < 2 {
			return
		}
		if fc.watchDone == nil {
			fc.watchDone = make(chan struct{}, 1)
		}
		if fc.state.CompareAndSwap(v, pack(phWatching, now)) {
			go fc.watch()
		}
		return
	default:
		return
	}
	// since is when the phase began, rounded down to a tick: the limit has
	// passed for sure one tick later.
	if limit > 0 && now-since > limit && fc.state.CompareAndSwap(v, pack(phClosed, now)) {
		fc.conn.Close()
	}
}

// Read is what br reads through: a byte the watcher took first, and never
// a blocking read while responses wait in bw, so that pipelined responses
// go out together but none waits for the client's next move.
func (fc *h1Conn) Read(p []byte) (int, error) {
	if fc.hasStash {
		fc.hasStash = false
		p[0] = fc.stash[0]
		return 1, nil
	}
	if fc.bw.Buffered() > 0 {
		if err := fc.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return fc.conn.Read(p)
}

func (fc *h1Conn) serve() {
	defer fc.close()
	if fc.setup() {
		fc.loop()
	}
}

// setup prepares a new connection for its first request; false means it
// was handed over or its TLS handshake failed.
func (fc *h1Conn) setup() bool {
	fc.ctx, fc.cancel = context.WithCancel(context.Background())
	fc.unwatchFn = fc.unwatch
	fc.resp.fc = fc
	fc.body.fc = fc
	ra := fc.conn.RemoteAddr().String()
	fc.ip = clientIP(ra)
	_, _, err := net.SplitHostPort(ra)
	fc.ipOK = err == nil
	if br, ok := readerPool.Get().(*bufio.Reader); ok {
		br.Reset(fc)
		fc.br = br
	} else {
		fc.br = bufio.NewReaderSize(fc, clientBufSize)
	}
	if bw, ok := writerPool.Get().(*bufio.Writer); ok {
		bw.Reset(fc.conn)
		fc.bw = bw
	} else {
		fc.bw = bufio.NewWriterSize(fc.conn, clientBufSize)
	}
	if fc.r.opts.FlushInterval > 0 {
		fc.handOff() // ReverseProxy does periodic flushing; net/http does any TLS
		return false
	}
	if tc, isTLS := fc.conn.(*tls.Conn); isTLS && !fc.handshake(tc) {
		return false
	}
	return true
}

// loop serves the connection's requests until it closes or is handed over.
func (fc *h1Conn) loop() {
	for {
		if fc.br.Buffered() == 0 && !fc.hasStash {
			if _, err := fc.br.Peek(1); err != nil {
				return
			}
		}
		if !fc.move(phHead) {
			return
		}
		switch fc.readRequest() {
		case actServe:
		case actHandOff:
			fc.handOff()
			return
		default: // answered or broken
			return
		}
		if !fc.move(phActive) || !fc.serveRequest() || fc.s.shutdown.Load() || !fc.move(phIdle) {
			return
		}
	}
}

// handshake completes the TLS handshake of a connection from a TLS listener,
// after which the fast path reads and writes the decrypted stream like a
// plain connection (tls.Conn is a net.Conn, safe for the watcher's
// concurrent read, and a read timeout does not break it). The watchdog's
// header timeout bounds the handshake, as it bounds the first request
// head (the connection is in phase phNew). It reports false when the
// connection is done: a failed handshake, or a protocol other than
// HTTP/1.1 negotiated by ALPN, which goes to net/http.
func (fc *h1Conn) handshake(tc *tls.Conn) bool {
	if err := tc.Handshake(); err != nil {
		// A plain-HTTP request on the TLS port gets net/http's answer
		// rather than a silent close, so the mistake is clear.
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		fc.r.log.Debug("router: TLS handshake failed", "remote", fc.conn.RemoteAddr().String(), "err", err)
		return false
	}
	st := tc.ConnectionState()
	fc.tlsState = &st
	if p := st.NegotiatedProtocol; p != "" && p != "http/1.1" {
		fc.handOff()
		return false
	}
	return true
}

// looksLikeHTTP reports whether the first bytes of a would-be TLS record
// are an HTTP request (net/http's test).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// protoLine is the X-Forwarded-Proto header line the router sets.
func (fc *h1Conn) protoLine() string {
	if fc.tlsState != nil {
		return protoHTTPSLine
	}
	return protoHTTPLine
}

// close ends the connection (unless handed over) and returns its buffers.
func (fc *h1Conn) close() {
	if !fc.handedOff {
		fc.bw.Flush() // what an aborted response got so far
		if fc.unreadBody {
			// The client may still be sending a body we did not read:
			// closing now would reset the connection and could destroy our
			// answer before it reads it. Half-close and linger, as
			// net/http does.
			if cw, ok := fc.conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite() // best effort: the connection is closed next
				time.Sleep(500 * time.Millisecond)
			}
		}
		fc.conn.Close()
	}
	if fc.cancel != nil {
		fc.cancel()
	}
	fc.s.forget(fc)
	if fc.br != nil {
		fc.br.Reset(nil)
		readerPool.Put(fc.br)
	}
	if fc.bw != nil {
		fc.bw.Reset(nil)
		writerPool.Put(fc.bw)
	}
	fc.br, fc.bw = nil, nil
}

// handOff passes the connection to the net/http fallback with every byte
// read from it so far and not yet consumed.
func (fc *h1Conn) handOff() {
	fc.bw.Flush()
	var prefix []byte
	if fc.req.consumed {
		prefix = append(prefix, fc.req.block...)
	}
	if n := fc.br.Buffered(); n > 0 {
		b, _ := fc.br.Peek(n)
		prefix = append(prefix, b...)
	}
	if fc.hasStash {
		prefix = append(prefix, fc.stash[0])
	}
	fc.handedOff = true
	fc.s.forget(fc)
	if len(prefix) == 0 {
		// As accepted (or handshaken): net/http does (or skips, when
		// complete) the TLS handshake of a *tls.Conn and sees its state.
		fc.s.handOff(fc.conn)
		return
	}
	fc.s.handOff(&handoffConn{Conn: fc.conn, prefix: prefix, tlsState: fc.tlsState})
}

// serveRequest answers the request just parsed; false means close the
// connection.
func (fc *h1Conn) serveRequest() bool {
	r, q, w := fc.r, &fc.req, &fc.resp
	w.reset()
	fc.closeAfter, fc.unreadBody = false, false
	fc.body.remaining = max(q.contentLength, 0)
	if !q.consumed {
		if fc.body.remaining > 0 {
			// Reading the body may refill br over the head, which the
			// request is written from after the body is buffered.
			fc.headBuf = append(fc.headBuf[:0], q.block...)
			discardBuffered(fc.br, len(q.block))
			q.block = fc.headBuf
		} else {
			// The head stays in br's buffer until the next request is
			// read: nothing reads from br before.
			discardBuffered(fc.br, len(q.block))
		}
	}

	t := r.table.Load()
	fc.keyBuf = appendHostKey(fc.keyBuf[:0], q.hostBytes())
	routes, ok := t.hosts[string(fc.keyBuf)]
	if !ok {
		r.serveUnknownHost(w, t, string(fc.keyBuf), q.method, fc.pathString())
		return fc.finish()
	}
	var rt *route
	if q.pathEscaped {
		rt = routes.match(fc.pathString())
	} else {
		rt = matchRoute(routes, q.block[q.pathStart:q.pathEnd])
	}
	if rt == nil {
		noRouteForPath(w, string(fc.keyBuf), fc.pathString())
		return fc.finish()
	}
	if rt.local == 0 && !rt.mayForward(q.hopped) {
		noHealthyInstance(w, rt)
		return fc.finish()
	}

	out := &fc.out
	*out = outReq{
		fc:         fc,
		method:     q.method,
		ctx:        fc.ctx,
		idempotent: safeMethod(q.method) || q.idemKey,
		hopped:     q.hopped,
		buf:        out.buf,
	}
	if n := fc.body.remaining; n > 0 {
		out.contentLength, out.body = n, &fc.body
		if n <= r.opts.MaxReplayBody {
			out.kind = bodyMem
		} else {
			out.kind = bodyStream
		}
	}
	if fc.bw.Buffered() > 0 {
		fc.bw.Flush() // pipelined responses: do not hold them while the instance works
	}
	fc.watchArmed = true
	if fc.body.remaining == 0 {
		fc.move(phWatchable)
	}
	err := r.forward(w, out, rt)
	fc.endWatch()
	if cap(out.data) > cap(out.buf) && cap(out.data) <= defaultMaxReplayBody {
		out.buf = out.data[:0] // reused by the next request with a body
	}
	out.data, out.body = nil, nil
	if err != nil {
		return false // cut short: the client must see it truncated
	}
	return fc.finish()
}

// pathString returns the request path as url.URL.Path would be: unescaped.
func (fc *h1Conn) pathString() string {
	q := &fc.req
	p := string(q.block[q.pathStart:q.pathEnd])
	if q.pathEscaped {
		if u, err := url.PathUnescape(p); err == nil {
			return u
		}
	}
	return p
}

// finish completes the response and reports whether the connection stays
// open for another request.
func (fc *h1Conn) finish() bool {
	fc.resp.finish()
	return !fc.closeAfter && !fc.gone.Load()
}

// decideClose settles, when the response head is written, whether the
// connection closes after this response. A request body left unread (the
// answer did not need it) is read and dropped if small, as net/http does,
// so the connection can be kept; known tells whether the response length
// is known to the client (else the end of the body is the close).
func (fc *h1Conn) decideClose(known bool) bool {
	c := fc.req.wantsClose || !known || fc.s.shutdown.Load() || fc.gone.Load()
	if b := &fc.body; b.remaining > 0 {
		if c || b.remaining > maxPostHandlerReadBytes || !b.discard() {
			c = true
			fc.unreadBody = true
		}
	}
	fc.closeAfter = c
	return c
}

// watchExchange registers the instance connection of an exchange, which
// the watcher aborts if the client goes away; the returned function ends
// the registration and reports false if the exchange was aborted (the
// lean forwarder's equivalent of context.AfterFunc's stop).
func (fc *h1Conn) watchExchange(pc *pconn) func() bool {
	fc.watched = pc
	fc.cur.Store(pc)
	if fc.gone.Load() && fc.cur.CompareAndSwap(pc, nil) {
		pc.abort()
	}
	return fc.unwatchFn
}

func (fc *h1Conn) unwatch() bool {
	ok := fc.cur.CompareAndSwap(fc.watched, nil)
	fc.watched = nil
	return ok
}

// bodyDone is called when the request body has been read to its end.
func (fc *h1Conn) bodyDone() {
	if fc.watchArmed {
		fc.move(phWatchable)
	}
}

// endWatch ends the watchable period of a request, stopping the watcher if
// the watchdog started one.
func (fc *h1Conn) endWatch() {
	fc.watchArmed = false
	if phaseOf(fc.stv) != phWatchable || fc.move(phActive) {
		return
	}
	v := fc.state.Load()
	if phaseOf(v) != phWatching {
		return // closed (Shutdown does not close busy connections; only timeouts of other phases)
	}
	fc.stopping.Store(true)
	// A deadline fails only on a closed connection: the watcher's read
	// returns then too.
	_ = fc.conn.SetReadDeadline(aLongTimeAgo)
	<-fc.watchDone
	_ = fc.conn.SetReadDeadline(time.Time{})
	fc.stopping.Store(false)
	fc.stv = v
	fc.move(phActive)
}

// watch is the watcher goroutine: it blocks reading the client. A byte is
// the next pipelined request, kept for br; an error other than our own
// stop means the client is gone: the exchange is canceled.
func (fc *h1Conn) watch() {
	n, err := fc.conn.Read(fc.stash[:])
	if n > 0 {
		fc.hasStash = true
	} else if !fc.stopping.Load() || !isTimeout(err) {
		fc.gone.Store(true)
		fc.cancel()
		if pc := fc.cur.Swap(nil); pc != nil {
			pc.abort()
		}
	}
	fc.watchDone <- struct{}{}
}

// h1Body reads a Content-Length request body from the client's buffer.
type h1Body struct {
	fc        *h1Conn
	remaining int64
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.fc.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.fc.bodyDone()
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// discard reads and drops the rest of the body.
func (b *h1Body) discard() bool {
	n, err := b.fc.br.Discard(int(b.remaining))
	b.remaining -= int64(n)
	return err == nil
}

// appendHostKey appends the routing key of a Host value, as normalizeHost
// computes it, without allocating.
func appendHostKey(dst, host []byte) []byte {
	for _, c := range hostKeySpan(host) {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
