//go:build linux

package router

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The lane is the fast server's event loop for plain HTTP on Linux: the
// common request — GET or HEAD without a body, for a host with a local
// instance, answered by a plain response head (see scanHead) — is served
// without a goroutine, by a few loops that each wait on their own epoll
// set and do every read and write themselves. On a small machine a proxy
// shares its cores with its clients and instances; what the Go scheduler
// spends parking and waking a goroutine per exchange is then taken from
// them (see BENCHMARKS.md).
//
// The lane keeps the fast server's rules by sharing its code: a request
// head is parsed by h1Request.parse, written to the instance by
// h1Conn.writeRequest, the response head is checked by scanBlock and
// relayed by h1Conn.writeRawHead, errors are written by proxyError, and
// instances are picked and their failures recorded as forward does.
// Whatever else comes leaves the lane, one way, for the fast server's
// goroutines (lane.go):
//   - a request the lane does not take goes, with every byte read after
//     it, to a goroutine serving the connection from then on;
//   - a response head the lane does not relay (chunked, close-delimited,
//     1xx, larger than the read buffer, …) goes with its request to a
//     goroutine that finishes the exchange as the fast server would, then
//     serves the connection.
type lane struct {
	s         *Server
	lnfd      int
	loops     []*loop
	listening atomic.Int32  // loops still holding the listener; the last closes it
	lnClosed  chan struct{} // closed once it has
	lnGone    atomic.Bool   // the caller closed ln itself: stop accepting
}

// loop is one event loop: its epoll set holds the listener (shared with
// the other loops, EPOLLEXCLUSIVE), an eventfd that wakes it for Shutdown
// and Close, and its client and instance connections.
type loop struct {
	lane   *lane
	s      *Server
	r      *Router
	ep     int
	wakefd int
	lnfd   int // -1 once the listener is dropped (shutdown)

	fds     []laneSlot // by file descriptor
	gen     int32      // registrations so far, to tell a reused descriptor number apart
	clients map[*laneClient]struct{}
	pools   map[*connPool]*lanePool
	events  []unix.EpollEvent

	lastTick     uint64
	acceptPaused bool // the listener is out of the epoll set until the next tick

	// load counts the connections the loop serves or has in its inbox;
	// accept gives a new connection to the least loaded loop, so that
	// each serves its share (the kernel wakes whichever loop waits).
	load    atomic.Int64
	inboxMu sync.Mutex
	inbox   []accepted
	exited  bool // no more deliveries: the loop stopped
}

// accepted is a connection one loop accepted for another.
type accepted struct {
	fd int
	sa unix.Sockaddr
}

// laneFD is a socket the loop reads and writes.
type laneFD interface {
	event(ev uint32)
}

// laneSlot is the socket registered under a descriptor number, with the
// registration's generation, which its events carry: an event still in
// the batch for a socket closed meanwhile does not reach the socket that
// reused its number.
type laneSlot struct {
	h   laneFD
	gen int32
}

const (
	laneEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	closedMask = unix.EPOLLERR | unix.EPOLLHUP | unix.EPOLLRDHUP

	// pendingLimit is how much response the lane holds for a slow client
	// before it stops reading the instance.
	pendingLimit = 256 << 10
)

// serveLane serves ln with event loops when it can (a TCP listener on
// Linux, without FlushInterval); ok=false leaves ln to Serve's goroutines.
func (s *Server) serveLane(ln net.Listener) (ok bool, err error) {
	tl, isTCP := ln.(*net.TCPListener)
	if !isTCP || s.DisableEventLoop || s.Router.opts.FlushInterval > 0 {
		return false, nil
	}
	// The loops accept on their own descriptor of ln's socket (already
	// non-blocking, as Go keeps it); rc also tells when ln is closed.
	rc, err := tl.SyscallConn()
	if err != nil {
		return false, nil
	}
	lnfd, dupErr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { lnfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || dupErr != nil {
		return false, nil
	}
	n := DefaultEventLoops()
	if s.EventLoops > 0 {
		n = s.EventLoops
	}
	l := &lane{s: s, lnfd: lnfd, lnClosed: make(chan struct{})}
	discard := func() {
		for _, lp := range l.loops {
			lp.closeFDs()
		}
		unix.Close(lnfd)
	}
	for range n {
		lp, err := newLoop(l, lnfd)
		if err != nil {
			discard()
			return false, nil
		}
		l.loops = append(l.loops, lp)
	}
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		discard()
		return true, http.ErrServerClosed
	}
	s.lanes = append(s.lanes, l)
	s.mu.Unlock()
	l.listening.Store(int32(len(l.loops)))
	for _, lp := range l.loops {
		go lp.run()
	}
	// Closing ln does not close the loops' descriptor: watch ln, so that
	// closing it stops accepting as it does for net/http (connections
	// already open are still served).
	tick := time.NewTicker(s.tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stopping:
			l.wake()
			<-l.lnClosed // as with net/http, no connection is accepted once Serve returns
			return true, http.ErrServerClosed
		case <-tick.C:
		}
		if rc.Control(func(uintptr) {}) == nil {
			continue
		}
		if s.shutdown.Load() {
			// Close closed ln before this tick saw s.stopping: it is the
			// server's shutdown, not the listener's own close.
			l.wake()
			<-l.lnClosed
			return true, http.ErrServerClosed
		}
		l.lnGone.Store(true)
		l.wake()
		<-l.lnClosed
		return true, &net.OpError{Op: "accept", Net: "tcp", Addr: tl.Addr(), Err: net.ErrClosed}
	}
}

func newLoop(ln *lane, lnfd int) (*loop, error) {
	s := ln.s
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, err
	}
	l := &loop{lane: ln, s: s, r: s.Router, ep: ep, wakefd: wfd, lnfd: lnfd,
		clients: make(map[*laneClient]struct{}),
		pools:   make(map[*connPool]*lanePool),
		events:  make([]unix.EpollEvent, 128),
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}); err != nil {
		l.closeFDs()
		return nil, err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lnfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(lnfd)}); err != nil {
		l.closeFDs()
		return nil, err
	}
	return l, nil
}

func (l *loop) closeFDs() {
	unix.Close(l.wakefd)
	unix.Close(l.ep)
}

// wake interrupts the loop's wait (Shutdown, Close).
func (l *loop) wake() {
	one := [8]byte{1}
	// Fails only when the eventfd's counter is full (EAGAIN): a wake is pending.
	_, _ = unix.Write(l.wakefd, one[:])
}

// wake wakes every loop, to see a shutdown.
func (ln *lane) wake() {
	for _, l := range ln.loops {
		l.wake()
	}
}

// dropListener removes the listener from the loop; the last loop to do so
// closes it, so no loop can meet its descriptor number reused.
func (l *loop) dropListener() {
	if l.lnfd < 0 {
		return
	}
	if !l.acceptPaused {
		_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lnfd, nil) // fails only when not in the set
	}
	if l.lane.listening.Add(-1) == 0 {
		unix.Close(l.lnfd)
		close(l.lane.lnClosed)
	}
	l.lnfd = -1
}

func (l *loop) run() {
	// One thread per loop: the loop blocks in epoll_wait, not in Go's
	// netpoller, and keeps its thread's caches warm.
	runtime.LockOSThread()
	s := l.s
	wait := max(int(s.tickEvery/time.Millisecond), 1)
	l.lastTick = s.tick.Load()
	for {
		n, err := unix.EpollWait(l.ep, l.events, wait)
		if err != nil && err != unix.EINTR {
			s.Router.log.Error("router: event loop stopped", "error", err)
			l.stop()
			return
		}
		for i := range n {
			ev := &l.events[i]
			fd := int(ev.Fd)
			switch {
			case fd == l.lnfd:
				l.accept()
			case fd == l.wakefd:
				var b [8]byte
				_, _ = unix.Read(l.wakefd, b[:]) // resets the counter (EAGAIN: it was zero)
				l.takeInbox()
			case fd < len(l.fds) && l.fds[fd].h != nil && l.fds[fd].gen == ev.Pad:
				l.fds[fd].h.event(ev.Events)
			}
		}
		if now := s.tick.Load(); now != l.lastTick {
			l.lastTick = now
			l.onTick(now)
		}
		if l.lane.lnGone.Load() {
			l.dropListener()
		}
		if s.shutdown.Load() {
			l.dropListener()
			if s.closing.Load() {
				for c := range l.clients {
					c.close()
				}
			} else {
				l.closeIdleClients(s.tick.Load())
			}
			if len(l.clients) == 0 {
				l.stop()
				return
			}
		}
	}
}

// accept takes the connections waiting on the listener.
func (l *loop) accept() {
	s := l.s
	for {
		fd, sa, err := unix.Accept4(l.lnfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			if err != unix.EAGAIN {
				// Out of descriptors and the like: the listener stays
				// ready, so it leaves the epoll set until the next tick
				// rather than spin (net/http sleeps).
				s.Router.log.Warn("router: accept failed", "error", err)
				_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lnfd, nil) // fails only when not in the set
				l.acceptPaused = true
			}
			return
		}
		if s.shutdown.Load() {
			unix.Close(fd)
			continue
		}
		s.laneConns.Add(1)
		if t := l.lane.leastLoaded(l); t != l && t.give(fd, sa) {
			continue
		}
		l.load.Add(1)
		l.serveClient(fd, sa)
	}
}

// leastLoaded returns the loop with the fewest connections, l on a tie.
func (ln *lane) leastLoaded(l *loop) *loop {
	best, min := l, l.load.Load()
	for _, o := range ln.loops {
		if n := o.load.Load(); n < min {
			best, min = o, n
		}
	}
	return best
}

// give puts a connection in the loop's inbox and wakes it; false when the
// loop has stopped.
func (l *loop) give(fd int, sa unix.Sockaddr) bool {
	l.inboxMu.Lock()
	if l.exited {
		l.inboxMu.Unlock()
		return false
	}
	l.inbox = append(l.inbox, accepted{fd, sa})
	l.load.Add(1)
	l.inboxMu.Unlock()
	l.wake()
	return true
}

// takeInbox serves the connections other loops accepted for this one.
func (l *loop) takeInbox() {
	l.inboxMu.Lock()
	in := l.inbox
	l.inbox = nil
	l.inboxMu.Unlock()
	for _, a := range in {
		l.serveClient(a.fd, a.sa)
	}
}

// serveClient registers a new client connection (counted in load and in
// the server's laneConns).
func (l *loop) serveClient(fd int, sa unix.Sockaddr) {
	s := l.s
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // best effort, as net does
	c := &laneClient{l: l, fd: fd}
	c.fc.s, c.fc.r = s, l.r
	c.fc.resp.fc = &c.fc
	c.fc.ctx = context.Background()
	if ip, ok := sockaddrIP(sa); ok {
		c.fc.ip, c.fc.ipOK = ip, true
	}
	c.w.fd = fd
	c.fc.bw = bufio.NewWriterSize(&c.w, clientBufSize)
	c.in = make([]byte, 0, clientBufSize)
	c.since = s.tick.Load()
	c.fresh = true
	if !l.register(fd, c) {
		unix.Close(fd)
		l.load.Add(-1)
		s.laneConns.Add(-1)
		return
	}
	l.clients[c] = struct{}{}
}

func sockaddrIP(sa unix.Sockaddr) (string, bool) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr).String(), true
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap().String(), true
	}
	return "", false
}

func (l *loop) register(fd int, h laneFD) bool {
	if fd >= len(l.fds) {
		n := max(2*len(l.fds), fd+1, 64)
		fds := make([]laneSlot, n)
		copy(fds, l.fds)
		l.fds = fds
	}
	l.gen++
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: laneEvents, Fd: int32(fd), Pad: l.gen}); err != nil {
		return false
	}
	l.fds[fd] = laneSlot{h: h, gen: l.gen}
	return true
}

// forget removes fd from the loop (before it is closed or handed over).
func (l *loop) forget(fd int) {
	_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, fd, nil) // fails only when not in the set
	if fd < len(l.fds) {
		l.fds[fd] = laneSlot{}
	}
}

// onTick applies the timeouts, once per tick of the server's clock.
func (l *loop) onTick(now uint64) {
	s := l.s
	if l.acceptPaused && l.lnfd >= 0 {
		l.acceptPaused = false
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.lnfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(l.lnfd)}); err != nil {
			s.Router.log.Warn("router: resuming accept failed", "error", err)
		}
	}
	for c := range l.clients {
		switch c.state {
		case lcHead:
			limit := s.headTicks
			if c.idle() && !c.fresh {
				limit = s.idleTicks
			}
			if limit > 0 && now-c.since > limit {
				c.close()
			}
		case lcExchange:
			c.checkExchange(now)
		}
	}
	nowNano := monoNow()
	for key, p := range l.pools {
		if p.sweep(nowNano) {
			delete(l.pools, key)
		}
	}
}

// closeIdleClients closes, during Shutdown, the connections waiting for a
// request (a new one after the grace net/http gives it).
func (l *loop) closeIdleClients(now uint64) {
	for c := range l.clients {
		if c.state == lcHead && c.idle() && (!c.fresh || now-c.since >= l.s.newIdle) {
			c.close()
		}
	}
}

// stop closes every connection of the loop and the loop itself.
func (l *loop) stop() {
	l.dropListener()
	l.inboxMu.Lock()
	l.exited = true
	in := l.inbox
	l.inbox = nil
	l.inboxMu.Unlock()
	for _, a := range in {
		unix.Close(a.fd)
		l.load.Add(-1)
		l.s.laneConns.Add(-1)
	}
	for c := range l.clients {
		c.close()
	}
	for key, p := range l.pools {
		p.closeAll()
		delete(l.pools, key)
	}
	l.closeFDs()
}

// ---------------------------------------------------------------- client --

// States of a lane client connection.
const (
	lcHead     uint8 = iota // reading a request head
	lcExchange              // a request is with an instance
	lcClosing               // the last response is going out; then close
	lcGone                  // closed or handed over
)

// laneClient is one client connection on a loop.
type laneClient struct {
	l  *loop
	fd int
	// fc holds the state the fast server's code works on: the parsed
	// request, the scanned response head, the client's address and the
	// buffered writer responses go through (to w). No goroutine runs it.
	fc h1Conn
	w  sockWriter

	in       []byte // read buffer: in[off:] is not consumed yet
	off      int
	readable bool   // an EPOLLIN edge came since the last short read
	hup      bool   // the client closed its side (or the socket failed)
	state    uint8  //
	since    uint64 // tick the current phase began
	fresh    bool   // no request yet

	// The exchange in progress.
	ex laneExchange
}

// laneExchange is one request on its way through an instance.
type laneExchange struct {
	rt       *route
	tg       *target
	up       *laneUp
	tried    triedSet
	attempts int
	lastErr  error
	reqEnd   int   // end of the request head in the client's in
	started  int64 // monoNow when the current attempt's request went out
	head     respHead
	bodyLeft int64
}

func (c *laneClient) idle() bool { return len(c.in) == c.off }

func (c *laneClient) event(ev uint32) {
	if ev&(unix.EPOLLIN|closedMask) != 0 {
		c.readable = true
	}
	if ev&closedMask != 0 {
		c.hup = true
	}
	if ev&unix.EPOLLOUT != 0 && c.w.pendingLen() > 0 {
		if err := c.w.flushPending(); err != nil {
			c.close()
			return
		}
		if up := c.ex.up; c.state == lcExchange && up != nil && up.paused && c.w.pendingLen() < pendingLimit {
			up.paused = false
			up.relay()
			return
		}
	}
	switch c.state {
	case lcHead:
		c.next()
	case lcExchange:
		if ev&closedMask != 0 && !peekHasData(c.fd) {
			// Gone while its request is with an instance: as the fast
			// server's watch would, cancel the exchange. (Bytes first
			// are a pipelined request; the close is seen after it.)
			c.close()
		}
	case lcClosing:
		if c.w.pendingLen() == 0 {
			c.close()
		}
	}
}

// next reads and starts the next request, as long as there is one.
func (c *laneClient) next() {
	for c.state == lcHead {
		if c.w.pendingLen() > 0 {
			return // answers still going out: read on once they are gone
		}
		if c.off > 0 && c.off == len(c.in) {
			c.in, c.off = c.in[:0], 0
		}
		if end, bad := headEnd(c.in[c.off:]); bad {
			c.leave()
			return
		} else if end > 0 {
			c.start(c.off + end)
			continue
		}
		if !c.readable {
			if c.hup {
				c.close()
			}
			return
		}
		if len(c.in) == cap(c.in) {
			if c.off == 0 {
				c.leave() // a head longer than the buffer: the fast server copies it out
				return
			}
			n := copy(c.in[:cap(c.in)], c.in[c.off:])
			c.in, c.off = c.in[:n], 0
		}
		wasIdle := c.idle()
		n, err := sysRead(c.fd, c.in[len(c.in):cap(c.in)])
		switch {
		case errors.Is(err, unix.EAGAIN):
			c.readable = false
			continue
		case err != nil || n == 0:
			c.close()
			return
		}
		if n < cap(c.in)-len(c.in) {
			c.readable = false
		}
		c.in = c.in[:len(c.in)+n]
		if wasIdle {
			c.since = c.l.s.tick.Load() // the header timeout runs from the first byte
		}
	}
}

// headEnd finds the end of the request head at the start of b, after any
// empty lines (RFC 9112 §2.2): 0 when it is not complete yet; bad when a
// line ends in a bare LF, which the fast server hands to net/http.
func headEnd(b []byte) (end int, bad bool) {
	skip := 0
	for len(b) >= skip+2 && b[skip] == '\r' && b[skip+1] == '\n' {
		skip += 2
	}
	i := bytes.Index(b[skip:], crlfcrlf)
	if i < 0 {
		return 0, bytes.IndexByte(b[skip:], '\n') >= 0 && bareLF(b[skip:])
	}
	if bareLF(b[skip : skip+i+2]) {
		return 0, true
	}
	return skip + i + 4, false
}

func bareLF(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		if i+j == 0 || b[i+j-1] != '\r' {
			return true
		}
		i += j + 1
	}
}

// start takes the request head ending at end, or leaves the lane with it.
func (c *laneClient) start(end int) {
	b := c.in[c.off:end]
	for len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		b = b[2:]
		c.off += 2
	}
	fc := &c.fc
	q := &fc.req
	q.block, q.consumed = b, false
	if act, _, _ := q.parse(b); act != actServe ||
		(q.method != http.MethodGet && q.method != http.MethodHead) || q.contentLength > 0 {
		c.leave() // the fast server answers it, or serves it, or rejects it
		return
	}
	r := c.l.r
	t := r.table.Load()
	fc.keyBuf = appendHostKey(fc.keyBuf[:0], q.hostBytes())
	routes, ok := t.hosts[string(fc.keyBuf)]
	if !ok || q.pathEscaped {
		c.leave()
		return
	}
	rt := matchRoute(routes, b[q.pathStart:q.pathEnd])
	if rt == nil || rt.local == 0 || rt.mayForward(q.hopped) {
		// The fast server answers, or tries the peer cells after the
		// local instances.
		c.leave()
		return
	}
	c.fresh = false
	c.state = lcExchange
	c.ex = laneExchange{rt: rt, reqEnd: end}
	fc.out = outReq{fc: fc, method: q.method, ctx: fc.ctx, idempotent: true, hopped: q.hopped, buf: fc.out.buf}
	fc.resp.reset()
	fc.closeAfter = false
	c.attempt()
}

// attempt sends the request to the next instance to try, or answers with
// the error of the last attempt when none is left.
func (c *laneClient) attempt() {
	ex := &c.ex
	rt := ex.rt
	for {
		i := rt.pick(&ex.tried)
		if i < 0 {
			c.fail(ex.failure(ex.lastErr))
			return
		}
		tg := &rt.targets[i]
		p := c.l.poolFor(tg)
		if _, _, err := p.sockaddr(); err != nil && ex.attempts == 0 {
			// An instance addressed by name: the goroutines resolve it.
			c.leave()
			return
		}
		ex.tried.add(i)
		ex.attempts++
		tg.state.requests.Add(1)
		tg.state.outstanding.Add(1)
		ex.tg = tg
		up, err := c.l.upstream(p, false)
		if err != nil {
			tg.state.outstanding.Add(-1)
			ex.lastErr = err
			c.l.r.recordFailure(c.fc.ctx, true, rt, tg, err)
			continue
		}
		c.send(up)
		return
	}
}

// failure is the error of an exchange that no instance answered.
func (ex *laneExchange) failure(err error) error {
	return &upstreamError{app: ex.rt.app, tried: ex.attempts, total: len(ex.rt.targets), err: err}
}

// send writes the request on up (queued while it connects).
func (c *laneClient) send(up *laneUp) {
	ex := &c.ex
	ex.up = up
	up.c = c
	up.gotByte = false
	up.n = 0
	ex.started = monoNow()
	c.fc.writeRequest(up.bw, &c.fc.out, ex.tg.addr, c.l.r.opts.TrustForwarded)
	up.bw.WriteString("\r\n") // no body (GET, HEAD)
	if err := up.bw.Flush(); err != nil {
		c.upFailed(up, err)
		return
	}
	up.relay() // a reused connection may hold a close already
}

// upFailed handles a failed attempt: a reused connection that broke before
// any response byte is replaced by a fresh one to the same instance, as
// the fast server does; otherwise the failure is recorded and the next
// instance tried.
func (c *laneClient) upFailed(up *laneUp, err error) {
	ex := &c.ex
	tg := ex.tg
	reused, gotByte := up.reused, up.gotByte
	up.close()
	ex.up = nil
	if reused && !gotByte && !isTimeout(err) {
		up.pool.closeAll() // the instance probably restarted
		if fresh, derr := c.l.upstream(up.pool, true); derr == nil {
			c.send(fresh)
			return
		} else {
			err = derr
		}
	}
	tg.state.outstanding.Add(-1)
	ex.lastErr = err
	if c.l.r.recordFailure(c.fc.ctx, true, ex.rt, tg, err) {
		c.attempt()
		return
	}
	c.fail(ex.failure(err))
}

// fail answers the request with the router's error page for err.
func (c *laneClient) fail(err error) {
	fc := &c.fc
	c.l.r.proxyError(&fc.resp, fc.ctx, c.ex.rt, err)
	fc.finish()
	c.done()
}

// checkExchange applies the dial and response timeouts.
func (c *laneClient) checkExchange(now uint64) {
	up := c.ex.up
	if up == nil {
		return
	}
	r := c.l.r
	elapsed := time.Duration(monoNow() - c.ex.started)
	switch {
	case up.connecting && elapsed > r.opts.DialTimeout:
		c.upFailed(up, dialError(os.ErrDeadlineExceeded))
	case !up.connecting && !up.gotByte && r.opts.ResponseHeaderTimeout > 0 && elapsed > r.opts.ResponseHeaderTimeout:
		c.upFailed(up, errHeaderTimeout)
	}
}

// gotHead relays a plain response head and what follows of its body.
func (c *laneClient) gotHead(up *laneUp, head respHead, n int) {
	ex := &c.ex
	fc := &c.fc
	ex.tg.state.answered(head.status)
	fc.writeRawHead(ex.tg)
	ex.head = head
	ex.bodyLeft = head.bodyLen
	up.consume(n)
	up.relay()
}

// done ends the request: the response is written (or going out).
func (c *laneClient) done() {
	fc := &c.fc
	if err := fc.bw.Flush(); err != nil {
		c.close()
		return
	}
	c.off = c.ex.reqEnd
	c.ex = laneExchange{}
	fc.req.block = nil
	if fc.closeAfter {
		c.state = lcClosing
		if c.w.pendingLen() == 0 {
			c.close()
		}
		return
	}
	c.state = lcHead
	c.since = c.l.s.tick.Load()
	c.next()
}

// close closes the connection, abandoning an exchange in progress.
func (c *laneClient) close() {
	if c.state == lcGone {
		return
	}
	if up := c.ex.up; up != nil {
		c.ex.tg.state.outstanding.Add(-1)
		up.close()
	}
	c.state = lcGone
	l := c.l
	l.forget(c.fd)
	unix.Close(c.fd)
	l.drop(c)
}

func (l *loop) drop(c *laneClient) {
	delete(l.clients, c)
	l.load.Add(-1)
	l.s.laneConns.Add(-1)
}

// leave hands the connection, at the request it has not served, to a
// goroutine of the fast server.
func (c *laneClient) leave() {
	prefix := append([]byte(nil), c.in[c.off:]...)
	c.handOver(func(conn net.Conn, out []byte) { c.l.s.adopt(conn, out, prefix) })
}

// handOver detaches the socket from the loop and gives it, with the
// responses still to be written, to fn on a new goroutine; false when the
// socket could not be turned into a net.Conn (it is then closed).
func (c *laneClient) handOver(fn func(conn net.Conn, out []byte)) bool {
	out := append([]byte(nil), c.w.pendingBytes()...)
	c.state = lcGone
	l := c.l
	l.forget(c.fd)
	l.drop(c)
	conn, err := fdConn(c.fd)
	if err != nil {
		l.r.log.Warn("router: handing a connection to the fast server failed", "error", err)
		return false
	}
	go fn(conn, out)
	return true
}

// fdConn turns a socket the loop owned into a net.Conn, closing fd.
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	c, err := net.FileConn(f)
	f.Close()
	return c, err
}

// -------------------------------------------------------------- instance --

// laneUp is a connection to an instance, owned by one loop: in an
// exchange (c set) or idle in its pool.
type laneUp struct {
	l    *loop
	fd   int
	pool *lanePool
	c    *laneClient
	w    sockWriter
	bw   *bufio.Writer

	in       [connReadBufSize]byte
	n        int // in[:n] holds what was read and not yet used
	readable bool
	hup      bool

	connecting bool
	reused     bool // it served an exchange before this one
	gotByte    bool // a byte of the response came
	paused     bool // the client is slow: reading waits for its buffer to drain
	suspect    bool // see pconn.suspect
	idleAt     int64
	closed     bool
}

func (up *laneUp) event(ev uint32) {
	if ev&(unix.EPOLLIN|closedMask) != 0 {
		up.readable = true
	}
	if ev&closedMask != 0 {
		up.hup = true
	}
	c := up.c
	if c == nil {
		// Idle: any byte or close means it cannot be used again.
		if ev&(unix.EPOLLIN|closedMask) != 0 {
			up.pool.remove(up)
			up.close()
		}
		return
	}
	if up.connecting && ev&(unix.EPOLLOUT|closedMask) != 0 {
		up.connecting = false
		if errno, err := unix.GetsockoptInt(up.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || errno != 0 {
			if err == nil {
				err = syscall.Errno(errno)
			}
			c.upFailed(up, dialError(os.NewSyscallError("connect", err)))
			return
		}
		up.w.hold = false
	}
	if ev&unix.EPOLLOUT != 0 && up.w.pendingLen() > 0 {
		if err := up.w.flushPending(); err != nil {
			c.upFailed(up, err)
			return
		}
	}
	up.relay()
}

// relay reads the response: its head, then its body, which goes to the
// client, until the body is complete or the socket has nothing more.
func (up *laneUp) relay() {
	c := up.c
	ex := &c.ex
	for !up.paused && c.state == lcExchange && ex.up == up {
		if ex.head.status != 0 && up.n > 0 {
			up.forwardBody()
			continue
		}
		if ex.head.status != 0 && ex.bodyLeft == 0 {
			c.finishExchange(up)
			return
		}
		if ex.head.status == 0 && up.n > 0 {
			if i := bytes.Index(up.in[:up.n], crlfcrlf); i >= 0 {
				head, ok := scanBlock(up.in[:i+4], c.fc.out.method, &c.fc.rh)
				if !ok {
					c.resume(up)
					return
				}
				c.gotHead(up, head, i+4)
				return
			}
			if up.n == len(up.in) {
				c.resume(up) // a head longer than the buffer
				return
			}
		}
		if !up.readable || up.connecting {
			return
		}
		n, err := sysRead(up.fd, up.in[up.n:])
		switch {
		case errors.Is(err, unix.EAGAIN):
			up.readable = false
			continue
		case err != nil || n == 0:
			if err == nil {
				err = errUnexpectedEOF
			}
			if ex.head.status != 0 {
				// Cut short after the head went out: the client must see
				// the response truncated.
				c.l.r.log.Debug("router: response body copy failed", "instance", ex.tg.id, "error", err)
				c.fc.bw.Flush()
				c.close() // with the exchange and its connection
				return
			}
			c.upFailed(up, err)
			return
		}
		if n < len(up.in)-up.n {
			up.readable = false
		}
		up.n += n
		up.gotByte = true
	}
}

// forwardBody passes the body bytes read so far to the client.
func (up *laneUp) forwardBody() {
	c := up.c
	ex := &c.ex
	k := int(min(int64(up.n), ex.bodyLeft))
	if k > 0 {
		c.fc.bw.Write(up.in[:k])
		ex.bodyLeft -= int64(k)
	}
	if k < up.n {
		// Bytes beyond the response: the instance is out of step; the
		// connection is not reused.
		ex.head.close = true
	}
	up.n = 0
	if ex.bodyLeft > 0 {
		// Send what came, as the fast server flushes after each read.
		if err := c.fc.bw.Flush(); err != nil {
			c.close()
			return
		}
		if c.w.pendingLen() >= pendingLimit {
			up.paused = true
		}
	}
}

// consume drops the first n bytes read.
func (up *laneUp) consume(n int) {
	up.n = copy(up.in[:], up.in[n:up.n])
}

// finishExchange ends a relayed response and pools its connection.
func (c *laneClient) finishExchange(up *laneUp) {
	ex := &c.ex
	ex.tg.state.outstanding.Add(-1)
	ex.up = nil
	up.c = nil
	if ex.head.close || up.hup {
		up.close()
	} else {
		up.suspect = bodilessByRule(c.fc.out.method, ex.head.status)
		up.pool.put(up)
	}
	c.done()
}

// resume gives the exchange, at a response head the lane does not relay,
// to a goroutine of the fast server, which finishes it and serves the
// connection from then on.
func (c *laneClient) resume(up *laneUp) {
	ex := c.ex
	l := c.l
	head := append([]byte(nil), up.in[:up.n]...)
	block := append([]byte(nil), c.in[c.off:ex.reqEnd]...)
	prefix := append([]byte(nil), c.in[ex.reqEnd:]...)
	up.c = nil
	c.ex.up = nil
	l.forget(up.fd)
	up.closed = true
	upConn, err := fdConn(up.fd)
	if err != nil {
		ex.tg.state.outstanding.Add(-1)
		c.fail(ex.failure(err))
		return
	}
	if !c.handOver(func(conn net.Conn, out []byte) {
		l.s.resume(conn, out, block, prefix, resumed{rt: ex.rt, tg: ex.tg, attempts: ex.attempts, up: upConn, head: head})
	}) {
		upConn.Close()
		ex.tg.state.outstanding.Add(-1)
	}
}

func (up *laneUp) close() {
	if up.closed {
		return
	}
	up.closed = true
	up.l.forget(up.fd)
	unix.Close(up.fd)
}

// upstream returns a connection to p's instance: the pool's most recent
// idle one unless fresh, else a new one (connecting).
func (l *loop) upstream(p *lanePool, fresh bool) (*laneUp, error) {
	if !fresh {
		for up := p.get(); up != nil; up = p.get() {
			if up.suspect && !peekAlive(up.fd) {
				up.close()
				continue
			}
			up.reused = true
			return up, nil
		}
	}
	return l.dial(p)
}

func (l *loop) poolFor(tg *target) *lanePool {
	p := l.pools[tg.pool]
	if p == nil {
		p = newLanePool(tg.pool)
		l.pools[tg.pool] = p
	}
	return p
}

// dial starts a non-blocking connect to the pool's instance.
func (l *loop) dial(p *lanePool) (*laneUp, error) {
	sa, family, err := p.sockaddr()
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, dialError(os.NewSyscallError("socket", err))
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // best effort, as net does
	up := &laneUp{l: l, fd: fd, pool: p}
	up.w.fd = fd
	up.bw = bufio.NewWriterSize(&up.w, connWriteBufSize)
	err = unix.Connect(fd, sa)
	switch {
	case err == nil:
	case errors.Is(err, unix.EINPROGRESS):
		up.connecting = true
		up.w.hold = true
	default:
		unix.Close(fd)
		return nil, dialError(os.NewSyscallError("connect", err))
	}
	if !l.register(fd, up) {
		unix.Close(fd)
		return nil, dialError(errors.New("epoll registration failed"))
	}
	return up, nil
}

// dialError is a failed connect as net.Dialer reports it (*net.OpError with
// Op "dial"), which recordFailure counts as such and retries elsewhere.
func dialError(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }

// peek looks at fd without taking anything: n > 0 when bytes wait, 0 at
// a close, err EAGAIN when neither.
func peek(fd int) (int, error) {
	var b [1]byte
	for {
		n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// peekHasData reports whether bytes wait to be read on fd.
func peekHasData(fd int) bool {
	n, err := peek(fd)
	return err == nil && n > 0
}

// peekAlive reports whether an idle connection has neither bytes nor a
// close waiting (see prober).
func peekAlive(fd int) bool {
	_, err := peek(fd)
	return errors.Is(err, unix.EAGAIN)
}

// lanePool is a loop's keep-alive pool for one instance: a LIFO stack, as
// connPool, whose address, size and idle timeout it follows, and whose
// closeIdle and retire it obeys (connPool.gen). Idle connections stay in
// the loop's epoll set, so a close by the instance removes them at once.
type lanePool struct {
	cp   *connPool
	gen  uint64 // cp.gen when the idle connections were pooled
	idle []*laneUp
	sa   unix.Sockaddr
	fam  int
}

func newLanePool(cp *connPool) *lanePool {
	return &lanePool{cp: cp, gen: cp.gen.Load()}
}

func (p *lanePool) sockaddr() (unix.Sockaddr, int, error) {
	if p.sa != nil {
		return p.sa, p.fam, nil
	}
	ap, err := netip.ParseAddrPort(p.cp.addr)
	if err != nil {
		// Instances listen on IP addresses; a name would need a resolver.
		return nil, 0, dialError(err)
	}
	if a := ap.Addr().Unmap(); a.Is4() {
		p.sa, p.fam = &unix.SockaddrInet4{Addr: a.As4(), Port: int(ap.Port())}, unix.AF_INET
	} else {
		p.sa, p.fam = &unix.SockaddrInet6{Addr: a.As16(), Port: int(ap.Port())}, unix.AF_INET6
	}
	return p.sa, p.fam, nil
}

// current drops the idle connections if connPool closed its own since
// they were pooled.
func (p *lanePool) current() {
	if g := p.cp.gen.Load(); g != p.gen {
		p.closeAll()
		p.gen = g
	}
}

func (p *lanePool) get() *laneUp {
	p.current()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	up := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.cp.laneIdle.Add(-1)
	if time.Duration(monoNow()-up.idleAt) >= p.cp.timeout {
		// The newest has expired, so have all.
		up.close()
		p.closeAll()
		return nil
	}
	return up
}

func (p *lanePool) put(up *laneUp) {
	p.current()
	if up.n > 0 || up.w.pendingLen() > 0 || p.retired() {
		up.close()
		return
	}
	// The cap is the instance's, over every loop.
	if p.cp.laneIdle.Add(1) > int64(p.cp.maxIdle) {
		p.cp.laneIdle.Add(-1)
		up.close()
		return
	}
	up.idleAt = monoNow()
	up.reused = false
	p.idle = append(p.idle, up)
}

// remove takes a connection the instance closed out of the pool.
func (p *lanePool) remove(up *laneUp) {
	for i, x := range p.idle {
		if x == up {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			p.cp.laneIdle.Add(-1)
			return
		}
	}
}

func (p *lanePool) closeAll() {
	for _, up := range p.idle {
		up.close()
	}
	p.cp.laneIdle.Add(-int64(len(p.idle)))
	clear(p.idle)
	p.idle = p.idle[:0]
}

// retired reports whether the instance left the routing table (an
// atomic load: this runs for every response).
func (p *lanePool) retired() bool { return p.cp.retired.Load() }

// sweep closes expired idle connections; true when the pool's instance
// left the routing table, so the loop can drop the pool.
func (p *lanePool) sweep(now int64) bool {
	if p.retired() {
		p.closeAll()
		return true
	}
	p.current()
	k := 0
	for k < len(p.idle) && time.Duration(now-p.idle[k].idleAt) >= p.cp.timeout {
		p.idle[k].close()
		k++
	}
	if k > 0 {
		n := copy(p.idle, p.idle[k:])
		clear(p.idle[n:])
		p.idle = p.idle[:n]
		p.cp.laneIdle.Add(-int64(k))
	}
	return false
}

// ---------------------------------------------------------------- sockets --

// sockWriter writes to a non-blocking socket: what the socket does not
// take at once is kept, in order, and written when it can take more
// (flushPending on EPOLLOUT). A write never blocks and only fails when the
// socket did.
type sockWriter struct {
	fd      int
	pending []byte
	poff    int
	hold    bool // connecting: keep everything for now
	err     error
}

func (w *sockWriter) pendingLen() int      { return len(w.pending) - w.poff }
func (w *sockWriter) pendingBytes() []byte { return w.pending[w.poff:] }

func (w *sockWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := len(p)
	if w.pendingLen() == 0 && !w.hold {
		n, err := sysWrite(w.fd, p)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			w.err = err
			return 0, err
		}
		if n == len(p) {
			return total, nil
		}
		p = p[max(n, 0):]
	}
	if w.pendingLen() == 0 {
		w.pending, w.poff = w.pending[:0], 0
	}
	w.pending = append(w.pending, p...)
	return total, nil
}

// flushPending writes what is kept, as far as the socket takes it.
func (w *sockWriter) flushPending() error {
	for w.pendingLen() > 0 && !w.hold {
		n, err := sysWrite(w.fd, w.pending[w.poff:])
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if err != nil {
			w.err = err
			return err
		}
		w.poff += n
	}
	if w.pendingLen() == 0 {
		w.pending, w.poff = w.pending[:0], 0
		if cap(w.pending) > pendingLimit {
			w.pending = nil
		}
	}
	return nil
}

var errUnexpectedEOF = errors.New("unexpected EOF")

// sysRead and sysWrite are read(2) and write(2) on non-blocking sockets,
// which never block: a raw system call spares the scheduler hand-off of
// syscall.Read.
func sysRead(fd int, p []byte) (int, error)  { return rawIO(unix.SYS_READ, fd, p) }
func sysWrite(fd int, p []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, p) }

func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}
