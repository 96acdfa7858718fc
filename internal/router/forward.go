package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// This file is the lean forwarder: the synchronous HTTP/1.1 client that
// serves the common path (see the package documentation). It writes the
// request straight onto a pooled connection, reads the response with
// http.ReadResponse on the connection's bufio.Reader and copies it to the
// client, all on the handler's goroutine.
//
// It serves two front ends through outReq: ServeHTTP (an *http.Request
// from any http.Server) and the router's own server (serve.go), whose
// requests stay raw bytes in the connection's buffer. The retry, resend and
// accounting rules are the same for both; only writing the request and the
// response head differ.

// leanOK reports whether the lean forwarder handles req. Everything else
// goes through the route's httputil.ReverseProxy.
func (r *Router) leanOK(req *http.Request) bool {
	if r.opts.FlushInterval > 0 || req.Method == http.MethodConnect || req.Trailer != nil || req.URL.Opaque != "" {
		return false
	}
	h := req.Header
	if c, ok := h["Connection"]; ok && hasToken(c, "upgrade") {
		return false // protocol upgrade (WebSocket …)
	}
	if _, ok := h["Expect"]; ok && bodyKindOf(req, r.opts.MaxReplayBody) == bodyStream {
		return false // 100-continue for a body that is not buffered
	}
	return true
}

type bodyKind uint8

const (
	bodyNone   bodyKind = iota // no body
	bodyMem                    // read into memory, replayable
	bodyStream                 // streamed from the client, replayable until read
)

// bodyKindOf classifies a request body by the replay rules of the package
// documentation.
func bodyKindOf(req *http.Request, maxReplay int64) bodyKind {
	switch {
	case req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0:
		return bodyNone
	case req.ContentLength > 0 && req.ContentLength <= maxReplay:
		return bodyMem
	default:
		return bodyStream
	}
}

// outReq is the state of one client request across attempts. It lives on the
// handler's stack (ServeHTTP) or in the client connection (fast server).
type outReq struct {
	req *http.Request // ServeHTTP's request; nil on the fast server
	fc  *h1Conn       // the fast server's connection, holding the raw request; nil under ServeHTTP

	method        string
	ctx           context.Context // canceled when the client goes away
	idempotent    bool            // may be resent after a broken connection (isIdempotent)
	hopped        bool            // came from a peer cell (paved.HopHeader present)
	hop           []string        // paved.HopHeader value to send: forwarding to a peer
	contentLength int64
	body          io.Reader

	kind bodyKind
	data []byte // bodyMem
	buf  []byte // reusable storage for data, if any

	touched       bool // bodyStream: a byte of the body was read
	clientBodyErr bool // the last write failed reading the client's body
	noReuse       bool // the response was read after a failed write

	// Positions of the connection's byte counters when the current
	// exchange started.
	wstart, rstart int64

	stop func() bool // unregisters the context watch of the current exchange
}

// fromRequest fills o from a ServeHTTP request.
func (o *outReq) fromRequest(req *http.Request, hopped bool, maxReplay int64) {
	o.req = req
	o.method = req.Method
	if o.method == "" {
		o.method = http.MethodGet
	}
	o.ctx = req.Context()
	o.idempotent = isIdempotent(req)
	o.hopped = hopped
	o.contentLength = req.ContentLength
	o.body = req.Body
	o.kind = bodyKindOf(req, maxReplay)
}

// prepare buffers a body small enough to be replayed (kind bodyMem).
func (o *outReq) prepare() error {
	if o.kind != bodyMem {
		return nil
	}
	if n := int(o.contentLength); cap(o.buf) >= n {
		o.data = o.buf[:n]
	} else {
		o.data = make([]byte, n)
	}
	if _, err := io.ReadFull(o.body, o.data); err != nil {
		return &bodyError{err: err}
	}
	return nil
}

// replayable reports whether the body can be sent again.
func (o *outReq) replayable() bool { return o.kind != bodyStream || !o.touched }

// forward serves a request through the lean forwarder: pick an instance,
// exchange the request on a pooled connection, retry on another instance
// where the rules allow, relay the response. A non-nil error means the
// response was cut short after its head was sent: the caller must abort it
// (close the connection) so the client does not take it for complete.
func (r *Router) forward(w http.ResponseWriter, out *outReq, rt *route) error {
	if err := out.prepare(); err != nil {
		r.proxyError(w, out.ctx, rt, err)
		return nil
	}
	var (
		tried    triedSet
		attempts int
		lastErr  error
		peers    bool // local instances are exhausted; trying peer cells
	)
	for {
		i := -1
		if !peers {
			i = rt.pick(&tried)
			if i < 0 && rt.mayForward(out.hopped) {
				// Marked before leaving, so the peer serves it locally.
				peers = true
				out.hop = rt.hopHeader
			}
		}
		if peers {
			i = rt.pickPeer(&tried)
		}
		if i < 0 {
			break // every instance (and peer) tried
		}
		tried.add(i)
		attempts++
		tg := &rt.targets[i]
		st := tg.state
		st.requests.Add(1)
		st.outstanding.Add(1)
		pc, head, err := r.exchange(w, out, tg)
		if err == nil {
			return r.relay(w, out, tg, pc, head)
		}
		st.outstanding.Add(-1)
		lastErr = err
		if !r.recordFailure(out.ctx, out.idempotent, rt, tg, err) || !out.replayable() {
			break
		}
	}
	r.proxyError(w, out.ctx, rt, &upstreamError{app: rt.app, tried: attempts, total: len(rt.targets), err: lastErr})
	return nil
}

// exchange sends the request to one instance and reads the response
// headers. It takes the most recently used idle connection, or dials. A
// pooled connection the instance closed meanwhile (restart, its own idle
// timeout) is detected and the request resent on a fresh connection to the
// same instance when http.Transport would do so: nothing was read back, and
// either nothing was written or the request is idempotent — in both cases
// only if the body can be replayed. The fresh dial's errors are the
// attempt's errors.
//
// On success the caller owns pc and must call out.stop.
func (r *Router) exchange(w http.ResponseWriter, out *outReq, tg *target) (*pconn, respHead, error) {
	ctx := out.ctx
	p := tg.pool
	mustDial := false
	for {
		var pc *pconn
		if !mustDial {
			now := monoNow()
			if pc = p.get(now); pc != nil {
				// A request that could not be resent after a failure is only
				// written on a connection known to be open; so is any request
				// on a connection idle long enough to have been timed out, or
				// suspect of trailing bytes.
				if (pc.suspect || !out.resendable() || pc.idleFor(now) > probeAfterIdle) && !pc.alive() {
					pc.close()
					continue
				}
			}
		}
		if pc == nil {
			var err error
			if pc, err = p.dial(ctx); err != nil {
				return nil, respHead{}, err
			}
			mustDial = true // pc is fresh
		}
		if out.fc != nil {
			out.stop = out.fc.watchExchange(pc)
		} else if ctx.Done() != nil {
			out.stop = context.AfterFunc(ctx, pc.abortFn)
		} else {
			out.stop = neverStopped
		}
		head, err := r.roundTrip(w, pc, out, tg.addr)
		if err == nil {
			return pc, head, nil
		}
		out.stop()
		pc.close()
		if mustDial || ctx.Err() != nil || !out.deadConn(pc, err) {
			return nil, respHead{}, err
		}
		// The instance closed a pooled connection: it probably restarted,
		// and its other idle connections are dead too.
		p.closeIdle()
		mustDial = true
	}
}

func neverStopped() bool { return true }

// bodilessByRule reports whether a response has no body whatever its
// headers say (HEAD, 204, 304). A server that sends one anyway leaves bytes
// that would be taken for the next response, so the connection is probed
// before its next use.
func bodilessByRule(method string, status int) bool {
	return method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified
}

// resendable reports whether the request may be resent after its
// connection broke before a response, as http.Transport decides it.
func (o *outReq) resendable() bool { return o.replayable() && o.idempotent }

// deadConn reports whether err on a reused connection means the instance had
// closed it, so that the request may be resent on a fresh connection.
func (o *outReq) deadConn(pc *pconn, err error) bool {
	if o.clientBodyErr || pc.nread != o.rstart || !o.replayable() || isTimeout(err) {
		return false
	}
	return pc.nwritten == o.wstart || o.idempotent
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, errHeaderTimeout) || (errors.As(err, &ne) && ne.Timeout())
}

// roundTrip writes the request on pc and reads the response head,
// forwarding 1xx responses to the client.
func (r *Router) roundTrip(w http.ResponseWriter, pc *pconn, out *outReq, addr string) (respHead, error) {
	out.wstart, out.rstart = pc.nwritten, pc.nread
	out.clientBodyErr, out.noReuse = false, false
	if werr := r.writeRequest(pc, out, addr); werr != nil {
		if out.clientBodyErr || pc.nwritten == out.wstart {
			return respHead{}, werr
		}
		// The instance may have answered early and closed the connection
		// (e.g. 413 without reading a large body): use that answer.
		// A deadline fails only on a closed connection, whose read fails.
		_ = pc.conn.SetReadDeadline(time.Now().Add(time.Second))
		head, err := r.readResponse(w, pc, out)
		if err != nil {
			return respHead{}, werr
		}
		_ = pc.conn.SetReadDeadline(time.Time{})
		if pc.aborted.Load() {
			return respHead{}, context.Canceled
		}
		out.noReuse = true
		return head, nil
	}
	return r.readResponse(w, pc, out)
}

// readResponse reads the response head: by readHeadFast for a plain one,
// otherwise by http.ReadResponse, relaying 1xx responses (except 101) to the
// client as httputil.ReverseProxy does. A fast-path head is already in the
// client's header map; for the fast server it stays in the connection's
// buffer, scanned (head.raw), until relay writes it.
func (r *Router) readResponse(w http.ResponseWriter, pc *pconn, out *outReq) (respHead, error) {
	timeout := r.opts.ResponseHeaderTimeout
	if timeout > 0 {
		_ = pc.conn.SetReadDeadline(time.Now().Add(timeout)) // fails only on a closed conn, whose read fails
	}
	for {
		pc.readLimit = maxResponseHeaderBytes
		var head respHead
		var ok bool
		if out.fc != nil {
			head, ok = scanHead(pc, out.method, &out.fc.rh)
			head.raw = ok
		} else {
			head, ok = readHeadFast(pc, w.Header(), out.method)
		}
		if !ok {
			req := out.req
			if req == nil {
				req = methodRequest(out.method)
			}
			res, err := http.ReadResponse(pc.br, req)
			if err != nil {
				return respHead{}, headerReadError(err, timeout, pc)
			}
			if code := res.StatusCode; code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
				h := w.Header()
				for k, vv := range res.Header {
					h[k] = append(h[k], vv...)
				}
				w.WriteHeader(code)
				clear(h)         // not done by WriteHeader for 1xx
				res.Body.Close() // http.NoBody: a 1xx response has none
				continue
			}
			if res.StatusCode == http.StatusSwitchingProtocols {
				// Only upgrade requests take the ReverseProxy path.
				return respHead{}, fmt.Errorf("instance switched to protocol %q, none was requested", res.Header.Get("Upgrade"))
			}
			head = respHead{status: res.StatusCode, contentLength: res.ContentLength, close: res.Close, res: res}
		}
		pc.readLimit = 1<<63 - 1
		if timeout > 0 {
			_ = pc.conn.SetReadDeadline(time.Time{})
			if pc.aborted.Load() { // canceled before the deadline was cleared
				return respHead{}, context.Canceled
			}
		}
		return head, nil
	}
}

// headerReadError names an expired ResponseHeaderTimeout as http.Transport
// does.
func headerReadError(err error, timeout time.Duration, pc *pconn) error {
	var ne net.Error
	if timeout > 0 && !pc.aborted.Load() && errors.As(err, &ne) && ne.Timeout() {
		return errHeaderTimeout
	}
	return err
}

// writeRequest writes the request line, headers and body on pc and flushes.
// The outbound request is what httputil.ReverseProxy with the router's
// Rewrite and http.Transport would send: hop-by-hop headers (and those named
// in Connection) removed, X-Forwarded-* replaced, Host kept, no
// User-Agent added, Te: trailers kept, framing by Content-Length or chunked.
func (r *Router) writeRequest(pc *pconn, out *outReq, addr string) error {
	if out.fc != nil {
		out.fc.writeRequest(pc.bw, out, addr, r.opts.TrustForwarded)
		return writeBody(pc, out, &r.bufs)
	}
	req := out.req
	bw := pc.bw
	h := req.Header
	conn := h["Connection"]

	if req.Method == "" {
		bw.WriteString(http.MethodGet)
	} else {
		bw.WriteString(req.Method)
	}
	bw.WriteByte(' ')
	writeRequestURI(bw, req.URL)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = addr
	}
	bw.WriteString(removeZone(host))
	bw.WriteString("\r\n")
	if ua := h["User-Agent"]; len(ua) > 0 && ua[0] != "" && (len(conn) == 0 || !hasToken(conn, "User-Agent")) {
		writeHeaderLine(bw, "User-Agent", ua[0])
	}
	for k, vv := range h {
		if skipOutHeader(k) || (len(conn) > 0 && hasToken(conn, k)) ||
			(out.kind == bodyMem && k == "Expect") { // the body is already here
			continue
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
	if te := h["Te"]; len(te) > 0 && hasToken(te, "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	if out.hop != nil {
		writeHeaderLine(bw, paved.HopHeader, out.hop[0])
	}
	r.writeForwarded(bw, req)
	return writeBody(pc, out, &r.bufs)
}

// writeBody ends the request head with its framing (Content-Length or
// chunked), writes the body and flushes: shared by both front ends.
func writeBody(pc *pconn, out *outReq, bufs *bufferPool) error {
	bw := pc.bw
	switch {
	case out.kind == bodyNone:
		if m := out.method; m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch {
			bw.WriteString("Content-Length: 0\r\n")
		}
	case out.contentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(pc.scratch[:0], out.contentLength, 10))
		bw.WriteString("\r\n")
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")

	switch out.kind {
	case bodyMem:
		bw.Write(out.data)
	case bodyStream:
		// Send the headers now, in case the body is slow to come.
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := writeStreamBody(pc, out, bufs); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeStreamBody copies the client's body to the instance: exactly
// Content-Length bytes, or chunked with a flush per chunk so that a streamed
// upload is not held back.
func writeStreamBody(pc *pconn, out *outReq, bufs *bufferPool) error {
	bw := pc.bw
	buf := bufs.Get()
	defer bufs.Put(buf)
	out.touched = true
	src := out.body
	if n := out.contentLength; n > 0 {
		var sent int64
		for sent < n {
			chunk := buf
			if rem := n - sent; rem < int64(len(chunk)) {
				chunk = chunk[:rem]
			}
			nr, rerr := src.Read(chunk)
			if nr > 0 {
				if _, err := bw.Write(chunk[:nr]); err != nil {
					return err
				}
				sent += int64(nr)
			}
			if rerr != nil && sent < n {
				out.clientBodyErr = true
				if errors.Is(rerr, io.EOF) {
					rerr = fmt.Errorf("http: ContentLength=%d with Body length %d", n, sent)
				}
				return rerr
			}
		}
		return nil
	}
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			bw.Write(strconv.AppendInt(pc.scratch[:0], int64(nr), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:nr])
			bw.WriteString("\r\n")
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			_, err := bw.WriteString("0\r\n\r\n")
			return err
		}
		if rerr != nil {
			out.clientBodyErr = true
			return rerr
		}
	}
}

// Read-only X-Forwarded-Proto values.
const (
	protoHTTPLine  = "X-Forwarded-Proto: http\r\n"
	protoHTTPSLine = "X-Forwarded-Proto: https\r\n"
)

// writeForwarded writes X-Forwarded-For/-Host/-Proto: the router's own view
// when it is the edge, or the front proxy's values extended (see
// setForwarded and setForwardedTrusted, their ReverseProxy equivalents).
func (r *Router) writeForwarded(bw *bufio.Writer, req *http.Request) {
	ip := clientIP(req.RemoteAddr)
	if !r.opts.TrustForwarded {
		writeHeaderLine(bw, "X-Forwarded-Host", req.Host)
		if ip != "" {
			writeHeaderLine(bw, "X-Forwarded-For", ip)
		}
		if req.TLS != nil {
			bw.WriteString(protoHTTPSLine)
		} else {
			bw.WriteString(protoHTTPLine)
		}
		return
	}
	h := req.Header
	if _, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		for _, v := range h["X-Forwarded-For"] {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	if v := h["X-Forwarded-Host"]; len(v) > 0 {
		for _, s := range v {
			writeHeaderLine(bw, "X-Forwarded-Host", s)
		}
	} else {
		writeHeaderLine(bw, "X-Forwarded-Host", req.Host)
	}
	if v := h["X-Forwarded-Proto"]; len(v) > 0 {
		for _, s := range v {
			writeHeaderLine(bw, "X-Forwarded-Proto", s)
		}
	} else if req.TLS != nil {
		bw.WriteString(protoHTTPSLine)
	} else {
		bw.WriteString(protoHTTPLine)
	}
}

func writeHeaderLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// skipOutHeader reports whether a client header is not copied as is to the
// instance: hop-by-hop headers, the forwarding headers the router sets, and
// those written from request fields.
func skipOutHeader(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer",
		"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Upgrade",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}

// isHopHeader reports whether a response header is hop-by-hop (the list of
// httputil.ReverseProxy).
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// hasToken reports whether a comma-separated header value list contains
// token, case-insensitively. It does not allocate.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var tok string
			if i := strings.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, ""
			}
			if strings.EqualFold(strings.Trim(tok, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// writeRequestURI writes u.RequestURI() for a non-opaque URL, with the query
// cleaned as httputil.ReverseProxy does with a Rewrite function.
func writeRequestURI(bw *bufio.Writer, u *url.URL) {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	bw.WriteString(p)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(cleanQueryParams(u.RawQuery))
	}
}

// cleanQueryParams drops query parameters that do not parse (a copy of
// httputil's rule): the query is re-encoded only if it contains a semicolon,
// a bad escape or too many parameters.
func cleanQueryParams(s string) string {
	reencode := func(s string) string {
		v, _ := url.ParseQuery(s)
		return v.Encode()
	}
	if strings.Count(s, "&")+1 > 10000 {
		return reencode(s)
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// removeZone removes an IPv6 zone from a host ("[fe80::1%en0]:80"), as
// http.Transport does for the Host header.
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndex(host, "]")
	if i < 0 {
		return host
	}
	j := strings.LastIndex(host[:i], "%")
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}

// relay sends the response to the client and settles the connection: back
// to the pool when the body was read to its end and the response allows
// keep-alive, closed otherwise. The instance stays outstanding until the
// body has been written. An error means the body copy failed after the
// head was sent (see forward).
func (r *Router) relay(w http.ResponseWriter, out *outReq, tg *target, pc *pconn, head respHead) error {
	st := tg.state
	defer st.outstanding.Add(-1)
	st.answered(head.status)

	var h http.Header
	stream := false
	res := head.res
	announced := 0
	if head.raw {
		n := len(out.fc.rh.block)
		stream = out.fc.writeRawHead(tg)
		discardBuffered(pc.br, n)
	} else {
		h = w.Header()
		stream = r.relayHead(w, h, res, tg, head.status)
		if res != nil {
			announced = len(res.Trailer)
		}
	}

	// Streams get their headers at once and every write flushed, like
	// ReverseProxy's maxLatencyWriter with a negative latency.
	var rc *http.ResponseController
	if r.opts.FlushInterval < 0 || head.contentLength == -1 || stream {
		rc = http.NewResponseController(w)
		rc.Flush()
	}
	var err error
	if res != nil {
		err = r.copyBody(w, res.Body, rc)
	} else {
		err = r.copyFixed(w, pc, head.bodyLen, rc)
	}
	canceled := !out.stop()
	if err == nil && !canceled && !out.noReuse && !head.close {
		pc.suspect = bodilessByRule(out.method, head.status)
		pc.pool.put(pc)
	} else {
		pc.close()
	}
	if err != nil {
		r.log.LogAttrs(out.ctx, slog.LevelDebug, "router: response body copy failed",
			slog.String("instance", tg.id), slog.Any("error", err))
		return err
	}
	if res == nil || len(res.Trailer) == 0 {
		return nil
	}

	// Force chunking, so that the trailers can be sent.
	http.NewResponseController(w).Flush()
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			h[k] = append(h[k], vv...)
		}
		return nil
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		h[k] = append(h[k], vv...)
	}
	return nil
}

// relayHead sets the response head in h (the client's header map) and
// writes it with w.WriteHeader; the fast-path head is already in h. It
// reports whether the response is an event stream.
func (r *Router) relayHead(w http.ResponseWriter, h http.Header, res *http.Response, tg *target, status int) bool {
	if res != nil {
		copyResponseHeader(h, res.Header)
		if announced := len(res.Trailer); announced > 0 {
			keys := make([]string, 0, announced)
			for k := range res.Trailer {
				keys = append(keys, k)
			}
			h.Add("Trailer", strings.Join(keys, ", "))
		}
	}
	if tg.idHeader != nil {
		h[InstanceHeader] = tg.idHeader
	}
	if tg.region != nil {
		h[paved.RegionHeader] = tg.region
	}
	w.WriteHeader(status)
	return isEventStream(h)
}

// copyFixed copies a body of n bytes from the connection to the client:
// first what is already buffered, without a copy, then through a pooled
// buffer (read straight from the socket when it is empty).
func (r *Router) copyFixed(w http.ResponseWriter, pc *pconn, n int64, rc *http.ResponseController) error {
	br := pc.br
	for n > 0 && br.Buffered() > 0 {
		p, _ := br.Peek(int(min(int64(br.Buffered()), n)))
		nw, werr := w.Write(p)
		discardBuffered(br, nw)
		n -= int64(nw)
		if werr != nil {
			return werr
		}
		if rc != nil {
			rc.Flush()
		}
	}
	if n == 0 {
		return nil
	}
	buf := r.bufs.Get()
	defer r.bufs.Put(buf)
	for n > 0 {
		nr, rerr := br.Read(buf[:min(int64(len(buf)), n)])
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			if werr != nil {
				return werr
			}
			if nw != nr {
				return io.ErrShortWrite
			}
			n -= int64(nr)
			if rc != nil {
				rc.Flush()
			}
		}
		if rerr != nil && n > 0 {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return rerr
		}
	}
	return nil
}

// copyResponseHeader copies the response headers except hop-by-hop ones. The
// response is ours alone, so its value slices are moved, not copied.
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if isHopHeader(k) || (len(conn) > 0 && hasToken(conn, k)) {
			continue
		}
		if prev, ok := dst[k]; ok {
			dst[k] = append(prev, vv...)
		} else {
			dst[k] = vv
		}
	}
}

// isEventStream reports whether the response is a server-sent event stream.
func isEventStream(h http.Header) bool {
	ct := h["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	v := ct[0]
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.EqualFold(strings.TrimSpace(v), "text/event-stream")
}

// copyBody streams the response body to the client, flushing after every
// write if rc is set. It returns nil once the body was read to its end.
func (r *Router) copyBody(w http.ResponseWriter, body io.Reader, rc *http.ResponseController) error {
	if body == http.NoBody {
		return nil
	}
	buf := r.bufs.Get()
	defer r.bufs.Put(buf)
	for {
		nr, rerr := body.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			if werr != nil {
				return werr
			}
			if nw != nr {
				return io.ErrShortWrite
			}
			if rc != nil {
				rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
