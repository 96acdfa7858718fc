package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// routeTransport is the http.RoundTripper of one route's ReverseProxy. It
// picks an instance, forwards the request through the shared keep-alive
// transport, and retries on other instances when that is safe (see the
// package documentation).
//
// ReverseProxy hands it a private clone of the client's request, so
// RoundTrip may set the instance address and swap the body in place, which
// saves a copy on the common path.
type routeTransport struct {
	router *Router
	route  *route
}

func (t *routeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r, rt := t.router, t.route
	if err := prepareBody(req, r.opts.MaxReplayBody); err != nil {
		return nil, err
	}
	var (
		tried    triedSet
		attempts int
		lastErr  error
	)
	for {
		i := rt.pick(&tried)
		if i < 0 {
			break // every instance tried
		}
		tried.add(i)
		attempts++
		tg := &rt.targets[i]
		resp, err := r.attempt(req, tg)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !r.recordFailure(req.Context(), isIdempotent(req), rt, tg, err) {
			break
		}
		next, ok := nextAttempt(req)
		if !ok {
			break
		}
		req = next
	}
	return nil, &upstreamError{app: rt.app, tried: attempts, total: len(rt.targets), err: lastErr}
}

// attempt sends req to one instance, maintaining its counters. On success
// the instance stays "outstanding" until the response body is closed, which
// ReverseProxy does once the response (or upgraded connection) is finished.
func (r *Router) attempt(req *http.Request, tg *target) (*http.Response, error) {
	st := tg.state
	st.requests.Add(1)
	st.outstanding.Add(1)
	req.URL.Host = tg.addr
	resp, err := r.transport.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols && !sameUpgrade(req.Header, resp.Header) {
		// ReverseProxy would reject this response without closing its body,
		// leaking the connection and the outstanding count; reject it here.
		resp.Body.Close()
		err = fmt.Errorf("instance switched to protocol %q, %q was requested",
			resp.Header.Get("Upgrade"), req.Header.Get("Upgrade"))
	}
	if err != nil {
		st.outstanding.Add(-1)
		return nil, err
	}
	st.recovered()
	if resp.StatusCode >= 500 {
		st.responses5xx.Add(1)
	}
	resp.Header[InstanceHeader] = tg.idHeader
	resp.Body = trackBody(resp.Body, st)
	return resp, nil
}

// recordFailure counts a failed attempt and reports whether the error
// allows trying another instance; idempotent is isIdempotent of the request.
func (r *Router) recordFailure(ctx context.Context, idempotent bool, rt *route, tg *target, err error) bool {
	if ctx.Err() != nil {
		return false // the client gave up; not the instance's fault
	}
	var retry bool
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		// Nothing reached the instance: any request may be resent.
		tg.state.failedConnects.Add(1)
		tg.state.coolDown(r.opts.FailureCooldown)
		retry = true
	} else {
		// The connection broke before a response; the instance may have
		// acted on the request, so only idempotent ones are resent.
		tg.state.transportErrors.Add(1)
		retry = idempotent
	}
	r.log.LogAttrs(ctx, slog.LevelWarn, "router: instance attempt failed",
		slog.String("app", rt.app), slog.String("instance", tg.id),
		slog.String("addr", tg.addr), slog.Bool("retry", retry), slog.Any("error", err))
	return retry
}

// isIdempotent mirrors net/http's rule for resending a request whose
// connection failed: safe methods, or an explicit idempotency key.
func isIdempotent(req *http.Request) bool {
	if safeMethod(req.Method) {
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	if !ok {
		_, ok = req.Header["X-Idempotency-Key"]
	}
	return ok
}

// safeMethod reports whether requests of a method are idempotent whatever
// their headers.
func safeMethod(m string) bool {
	switch m {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// Read-only requests handed to http.ReadResponse for the fast server's
// requests, which have no *http.Request: ReadResponse only reads the
// method (a HEAD response has no body).
var (
	headRequest  = &http.Request{Method: http.MethodHead}
	otherRequest = &http.Request{Method: http.MethodGet}
)

func methodRequest(method string) *http.Request {
	if method == http.MethodHead {
		return headRequest
	}
	return otherRequest
}

// nextAttempt returns the request to send to the next instance: a shallow
// copy with its own URL and a fresh body, because the transport may still be
// reading the previous one from a connection goroutine. ok is false when the
// body cannot be replayed.
func nextAttempt(req *http.Request) (next *http.Request, ok bool) {
	body, ok := replayBody(req)
	if !ok {
		return nil, false
	}
	cp := *req
	u := *req.URL
	cp.URL = &u
	cp.Body = body
	return &cp, true
}

// replayBody returns a body equal to req's original body, if possible.
func replayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if ub, ok := req.Body.(*unreadBody); ok {
		if ub.touched.Load() {
			return nil, false
		}
		return &unreadBody{src: ub.src}, true
	}
	if req.GetBody != nil {
		body, err := req.GetBody()
		return body, err == nil
	}
	return nil, false
}

// prepareBody makes req's body replayable where the rule allows: bodies of
// known length up to max are read into memory and exposed through GetBody;
// other bodies are wrapped to notice the first read.
func prepareBody(req *http.Request, max int64) error {
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		return nil
	}
	if req.ContentLength <= 0 || req.ContentLength > max {
		req.Body = &unreadBody{src: req.Body}
		return nil
	}
	data := make([]byte, req.ContentLength)
	if _, err := io.ReadFull(req.Body, data); err != nil {
		return &bodyError{err: err}
	}
	req.Body = &memBody{data: data}
	req.GetBody = func() (io.ReadCloser, error) { return &memBody{data: data}, nil }
	// The body is already here: make the instance not wait for, nor send,
	// a 100 Continue.
	req.Header.Del("Expect")
	return nil
}

// memBody reads a buffered request body. Every attempt gets its own memBody
// over the same (read-only) bytes.
type memBody struct {
	data []byte
	off  int
}

func (b *memBody) Read(p []byte) (int, error) {
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

func (b *memBody) Close() error { return nil }

var errBodyClosed = errors.New("router: read on a request body of a finished attempt")

// unreadBody passes a streamed request body through and remembers whether it
// was read: until then the request can be resent to another instance.
type unreadBody struct {
	src     io.ReadCloser
	touched atomic.Bool
	closed  atomic.Bool
}

func (b *unreadBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errBodyClosed
	}
	b.touched.Store(true)
	return b.src.Read(p)
}

// Close detaches this attempt from the source without closing it: the
// transport closes the body of a failed attempt, and the source must survive
// for the next one. The server closes the inbound body after the handler.
func (b *unreadBody) Close() error {
	b.closed.Store(true)
	return nil
}

// trackBody wraps a response body so that the instance's outstanding count
// drops when the body is closed. Upgraded connections (101) keep their Write
// method, which ReverseProxy needs to relay the client's bytes.
func trackBody(body io.ReadCloser, st *backendState) io.ReadCloser {
	if rwc, ok := body.(io.ReadWriteCloser); ok {
		return &trackedConn{trackedBody: trackedBody{ReadCloser: body, state: st}, w: rwc}
	}
	return &trackedBody{ReadCloser: body, state: st}
}

type trackedBody struct {
	io.ReadCloser
	state *backendState
	done  atomic.Bool // Close may run twice, concurrently for upgrades
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done.CompareAndSwap(false, true) {
		b.state.outstanding.Add(-1)
	}
	return err
}

type trackedConn struct {
	trackedBody
	w io.Writer
}

func (c *trackedConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// sameUpgrade reports whether a 101 response switched to the protocol the
// request asked for, as ReverseProxy requires.
func sameUpgrade(reqH, respH http.Header) bool {
	return strings.EqualFold(upgradeType(reqH), upgradeType(respH))
}

func upgradeType(h http.Header) string {
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}

// upstreamError is returned when no instance produced a response.
type upstreamError struct {
	app          string
	tried, total int
	err          error // last attempt's error; nil if the route had no instance left
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("app %q: %d of %d instances tried: %v", e.app, e.tried, e.total, e.err)
}

func (e *upstreamError) Unwrap() error { return e.err }

// bodyError means the client's request body could not be read.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// proxyError is the ReverseProxy ErrorHandler of a route: it turns a failed
// forward into a short plain-text response and a log line. ctx is the
// request's.
func (r *Router) proxyError(w http.ResponseWriter, ctx context.Context, rt *route, err error) {
	var be *bodyError
	var ue *upstreamError
	switch {
	case ctx.Err() != nil:
		// The client is gone or gave up; nobody will read a body.
		r.log.LogAttrs(ctx, slog.LevelDebug, "router: client canceled request",
			slog.String("app", rt.app), slog.Any("error", err))
		w.WriteHeader(http.StatusBadGateway)
	case errors.As(err, &be):
		r.log.LogAttrs(ctx, slog.LevelDebug, "router: bad request body",
			slog.String("app", rt.app), slog.Any("error", err))
		plainError(w, http.StatusBadRequest, "paved: could not read the request body")
	case errors.As(err, &ue) && isTimeout(ue.err) && r.opts.ResponseHeaderTimeout > 0:
		r.log.LogAttrs(ctx, slog.LevelWarn, "router: an instance did not answer in time",
			slog.String("app", rt.app), slog.Duration("timeout", r.opts.ResponseHeaderTimeout), slog.Any("error", ue.err))
		plainError(w, http.StatusGatewayTimeout, fmt.Sprintf(
			"paved: app %q did not start answering within %s", rt.app, r.opts.ResponseHeaderTimeout))
	case errors.As(err, &ue):
		r.log.LogAttrs(ctx, slog.LevelWarn, "router: no instance responded",
			slog.String("app", rt.app), slog.Int("tried", ue.tried), slog.Any("error", ue.err))
		plainError(w, http.StatusBadGateway, fmt.Sprintf(
			"paved: no instance of app %q responded (tried %d of %d)", rt.app, ue.tried, ue.total))
	default:
		// Raised by ReverseProxy itself, e.g. an invalid protocol upgrade.
		r.log.LogAttrs(ctx, slog.LevelWarn, "router: proxy error",
			slog.String("app", rt.app), slog.Any("error", err))
		plainError(w, http.StatusBadGateway, fmt.Sprintf("paved: bad gateway for app %q", rt.app))
	}
}
