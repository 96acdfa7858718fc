package router

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Buffer sizes of a pooled connection, those of http.Transport.
const (
	connReadBufSize  = 4 << 10
	connWriteBufSize = 4 << 10

	// maxResponseHeaderBytes bounds the header block of a response (and of
	// each 1xx response before it), http.Transport's default.
	maxResponseHeaderBytes = 10 << 20

	// probeAfterIdle: a pooled connection idle for longer than this is
	// checked for a close by the instance before it is used, whatever the
	// request (see pconn.alive).
	probeAfterIdle = time.Second
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads and
// writes on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

var errHeaderTooLarge = fmt.Errorf("router: response headers exceed %d bytes", maxResponseHeaderBytes)

// connPool is the keep-alive pool of one instance address: a LIFO stack of
// idle connections. LIFO keeps the most recently used (warmest, most likely
// alive) connection on top and leaves the stack sorted by idle time, oldest
// first, which makes expiry a prefix cut.
//
// The pool has no goroutine of its own. An idle connection is not watched:
// a close by the instance is noticed when the connection is next used (see
// Router.exchange), and connections idle for IdleConnTimeout are closed by a
// timer that only runs while the pool holds idle connections.
type connPool struct {
	addr    string
	dialer  *net.Dialer
	maxIdle int
	timeout time.Duration // idle timeout
	// tls, when set, wraps every connection in a TLS client handshaken
	// with this config (a peer router of a TLS cell), within
	// handshakeTimeout.
	tls              *tls.Config
	handshakeTimeout time.Duration

	// The event loops keep their own idle connections to the address
	// (lanePool): gen tells them to drop those (closeIdle, retire), and
	// laneIdle counts them.
	gen      atomic.Uint64
	laneIdle atomic.Int64

	// retired: no longer in the routing table, never pool again. Atomic so
	// that the event loops read it without taking mu; put reads it under
	// mu, and retire then takes whatever put pooled before it.
	retired atomic.Bool

	mu      sync.Mutex
	idle    []*pconn
	timer   *time.Timer
	timerOn bool
}

// pconn is one connection to an instance with its buffers. It is used by one
// request at a time.
type pconn struct {
	conn net.Conn
	br   *bufio.Reader // reads through pconn.Read
	bw   *bufio.Writer // writes through pconn.Write
	pool *connPool

	idleAt int64 // monoNow when last put in the pool; 0 while never pooled
	// suspect is set after a response without a body by rule (HEAD, 204,
	// 304): a server that wrongly sends one anyway leaves bytes that would
	// be taken for the next response, so the next use probes first.
	suspect bool

	// Byte counters, to tell "nothing written" and "no response byte read"
	// apart from failures in the middle of an exchange.
	nread, nwritten int64
	// readLimit bounds reads while response headers are parsed.
	readLimit int64

	// aborted is set when the request's context was canceled and the
	// connection's deadline moved to the past; it is then never reused.
	aborted atomic.Bool
	abortFn func() // pc.abort, bound once for context.AfterFunc

	probe prober // liveness check of an idle connection (platform-specific)

	scratch [20]byte // formatting numbers without allocating
}

func (pc *pconn) Read(p []byte) (int, error) {
	if pc.readLimit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > pc.readLimit {
		p = p[:pc.readLimit]
	}
	n, err := pc.conn.Read(p)
	pc.nread += int64(n)
	pc.readLimit -= int64(n)
	return n, err
}

func (pc *pconn) Write(p []byte) (int, error) {
	n, err := pc.conn.Write(p)
	pc.nwritten += int64(n)
	return n, err
}

// abort unblocks any read or write on the connection. It runs in its own
// goroutine when the request's context is canceled.
func (pc *pconn) abort() {
	pc.aborted.Store(true)
	_ = pc.conn.SetDeadline(aLongTimeAgo) // fails only when closed: nothing left to unblock
}

func (pc *pconn) close() { pc.conn.Close() }

// alive reports whether an idle connection can be used: no unsolicited bytes
// are waiting on it and the instance has not closed it.
func (pc *pconn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	return pc.probe.alive()
}

// idleFor returns how long the connection has been pooled.
func (pc *pconn) idleFor(now int64) time.Duration {
	return time.Duration(now - pc.idleAt)
}

func newConnPool(addr string, dialer *net.Dialer, o Options) *connPool {
	return &connPool{addr: addr, dialer: dialer, maxIdle: o.MaxIdleConnsPerBackend, timeout: o.IdleConnTimeout}
}

// dial opens a new connection to the pool's instance. Errors are those of
// net.Dialer (*net.OpError with Op "dial"), which the retry logic relies on.
func (p *connPool) dial(ctx context.Context) (*pconn, error) {
	raw, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := raw
	if p.tls != nil {
		if c, err = p.handshake(ctx, raw); err != nil {
			return nil, err
		}
	}
	return newPconn(c, raw, p), nil
}

// newPconn wraps a connection to the pool's instance: c is what requests
// are exchanged over, raw the socket under it (c itself unless TLS).
func newPconn(c, raw net.Conn, p *connPool) *pconn {
	pc := &pconn{conn: c, pool: p, readLimit: math.MaxInt64}
	pc.br = bufio.NewReaderSize(pc, connReadBufSize)
	pc.bw = bufio.NewWriterSize(pc, connWriteBufSize)
	pc.abortFn = pc.abort
	// The liveness peek looks at the socket under TLS too: on an idle
	// connection any bytes (a close_notify alert) or EOF mean "closed".
	pc.probe.init(raw)
	return pc
}

// handshake runs the TLS client handshake on a fresh connection. A failure
// is reported as a dial error: no byte of the request was sent, so the
// request may go to the next peer like after a refused connection.
func (p *connPool) handshake(ctx context.Context, raw net.Conn) (net.Conn, error) {
	if p.handshakeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.handshakeTimeout)
		defer cancel()
	}
	tc := tls.Client(raw, p.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Source: raw.LocalAddr(), Addr: raw.RemoteAddr(), Err: err}
	}
	return tc, nil
}

// get pops the most recently used idle connection, or returns nil. Expired
// connections met on the way are closed.
func (p *connPool) get(now int64) *pconn {
	p.mu.Lock()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	pc := p.idle[n-1]
	if pc.idleFor(now) < p.timeout {
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return pc
	}
	// The newest idle connection has expired, so all of them have.
	stale := p.takeAllLocked()
	p.mu.Unlock()
	closeAll(stale)
	return nil
}

// put returns a connection whose exchange completed cleanly to the pool, or
// closes it when the pool is full or retired.
func (p *connPool) put(pc *pconn) {
	if pc.br.Buffered() > 0 {
		// Bytes beyond the response: the instance is out of step with us.
		pc.close()
		return
	}
	pc.idleAt = monoNow()
	p.mu.Lock()
	if p.retired.Load() || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		pc.close()
		return
	}
	p.idle = append(p.idle, pc)
	if !p.timerOn {
		p.timerOn = true
		if p.timer == nil {
			p.timer = time.AfterFunc(p.timeout, p.sweep)
		} else {
			p.timer.Reset(p.timeout)
		}
	}
	p.mu.Unlock()
}

// sweep closes the connections that have been idle for the idle timeout and
// re-arms the timer for the oldest remaining one.
func (p *connPool) sweep() {
	now := monoNow()
	p.mu.Lock()
	cut := 0
	for cut < len(p.idle) && p.idle[cut].idleFor(now) >= p.timeout {
		cut++
	}
	stale := make([]*pconn, cut)
	copy(stale, p.idle[:cut])
	rest := copy(p.idle, p.idle[cut:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	if rest > 0 && !p.retired.Load() {
		p.timer.Reset(p.timeout - p.idle[0].idleFor(now))
	} else {
		p.timerOn = false
	}
	p.mu.Unlock()
	closeAll(stale)
}

// closeIdle closes every idle connection; the pool stays usable.
func (p *connPool) closeIdle() {
	p.gen.Add(1)
	p.mu.Lock()
	stale := p.takeAllLocked()
	p.mu.Unlock()
	closeAll(stale)
}

// retire closes the idle connections of an address that left the routing
// table; connections of requests still in flight are closed when done.
func (p *connPool) retire() {
	// retired first: a loop that sees the new gen sees it too.
	p.retired.Store(true)
	p.gen.Add(1)
	p.mu.Lock()
	if p.timer != nil {
		p.timer.Stop()
		p.timerOn = false
	}
	stale := p.takeAllLocked()
	p.mu.Unlock()
	closeAll(stale)
}

func (p *connPool) takeAllLocked() []*pconn {
	stale := p.idle
	p.idle = nil
	return stale
}

// idleCount returns the number of pooled connections, the event loops'
// included (for tests).
func (p *connPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle) + int(p.laneIdle.Load())
}

func closeAll(pcs []*pconn) {
	for _, pc := range pcs {
		pc.close()
	}
}

// errHeaderTimeout is returned when ResponseHeaderTimeout expires, with the
// wording of http.Transport.
var errHeaderTimeout = errors.New("net/http: timeout awaiting response headers")
