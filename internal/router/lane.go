package router

import (
	"net"
	"runtime"
	"time"
)

// DefaultEventLoops is the number of event loops Server runs when
// EventLoops is zero: one per P (GOMAXPROCS), at most 16.
//
// Each loop keeps its thread, and the P it runs on, in epoll_wait while it
// waits. When no P is left idle, the runtime's sysmon takes a waiting
// loop's P back after 20 µs and hands it on, thousands of times a
// second under load (futex wake-ups and context switches that cost the
// machine about 10% of the router's throughput on 2 cores). A process
// serving the router should therefore run with one P more than loops: see
// paved server.
func DefaultEventLoops() int { return min(max(runtime.GOMAXPROCS(0), 1), 16) }

// The fast server's side of the event loop's hand-overs (lane_linux.go):
// a connection leaves the lane for a goroutine, with the responses it still
// had to write and the bytes read after the last request it served.

// adopt serves a connection the lane gave up at a request it does not take.
func (s *Server) adopt(conn net.Conn, out, prefix []byte) {
	if !writeAll(conn, out) {
		conn.Close()
		return
	}
	fc := s.newConn(withPrefix(conn, prefix))
	if fc == nil {
		return
	}
	fc.serve()
}

// resumed is an exchange the lane started and hands over at a response
// head it does not relay: its route, the instance and its connection with
// the bytes read from it.
type resumed struct {
	rt       *route
	tg       *target
	attempts int
	up       net.Conn
	head     []byte
}

// resume finishes an exchange the lane started, then serves the connection.
// block is the request's head; prefix the bytes read after it.
func (s *Server) resume(conn net.Conn, out, block, prefix []byte, rs resumed) {
	pc := newPconn(withPrefix(rs.up, rs.head), rs.up, rs.tg.pool)
	abandon := func() { // the exchange cannot be finished
		pc.close()
		rs.tg.state.outstanding.Add(-1)
	}
	if !writeAll(conn, out) {
		conn.Close()
		abandon()
		return
	}
	fc := s.newConn(withPrefix(conn, prefix))
	if fc == nil {
		abandon()
		return
	}
	defer fc.close()
	if !fc.setup() {
		abandon()
		return
	}
	q := &fc.req
	fc.headBuf = append(fc.headBuf[:0], block...)
	q.block, q.consumed = fc.headBuf, true
	q.parse(q.block) // as the lane parsed it
	if !fc.move(phActive) || !fc.finishExchange(rs, pc) || s.shutdown.Load() || !fc.move(phIdle) {
		return
	}
	fc.loop()
}

// finishExchange reads the response to the request the lane wrote on pc
// and relays it, as serveRequest would have; false means close.
func (fc *h1Conn) finishExchange(rs resumed, pc *pconn) bool {
	r, q, w := fc.r, &fc.req, &fc.resp
	w.reset()
	fc.closeAfter, fc.unreadBody = false, false
	fc.body.remaining = 0
	out := &fc.out
	*out = outReq{fc: fc, method: q.method, ctx: fc.ctx, idempotent: true, hopped: q.hopped, buf: out.buf}
	fc.watchArmed = true
	fc.move(phWatchable)
	out.stop = fc.watchExchange(pc)
	head, err := r.readResponse(w, pc, out)
	if err != nil {
		out.stop()
		pc.close()
		rs.tg.state.outstanding.Add(-1)
		r.recordFailure(out.ctx, true, rs.rt, rs.tg, err)
		fc.endWatch()
		r.proxyError(w, out.ctx, rs.rt, &upstreamError{app: rs.rt.app, tried: rs.attempts, total: len(rs.rt.targets), err: err})
		return fc.finish()
	}
	err = r.relay(w, out, rs.tg, pc, head)
	fc.endWatch()
	if err != nil {
		return false
	}
	return fc.finish()
}

// withPrefix returns c reading prefix first, if there is one.
func withPrefix(c net.Conn, prefix []byte) net.Conn {
	if len(prefix) == 0 {
		return c
	}
	return &handoffConn{Conn: c, prefix: prefix}
}

// writeAll writes the responses the lane had not sent yet.
func writeAll(c net.Conn, out []byte) bool {
	if len(out) == 0 {
		return true
	}
	// A deadline fails only on a closed connection, whose write fails.
	_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
	_, err := c.Write(out)
	_ = c.SetWriteDeadline(time.Time{})
	return err == nil
}
