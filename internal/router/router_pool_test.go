package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the lean forwarder and its connection pool.

// connCounter counts the connections a backend accepted and closed.
type connCounter struct{ opened, closed atomic.Int64 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

// newCountingBackend is newBackend with connection counting.
func newCountingBackend(t testing.TB, id string, h http.HandlerFunc) (*httptest.Server, Backend, *connCounter) {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }
	}
	cc := new(connCounter)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, Backend{ID: id, Addr: srv.Listener.Addr().String()}, cc
}

// newRawBackend serves every accepted connection with serve, on raw TCP.
func newRawBackend(t testing.TB, id string, serve func(c net.Conn, br *bufio.Reader)) Backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return Backend{ID: id, Addr: l.Addr().String()}
}

// idleConns returns the number of pooled connections to addr.
func idleConns(r *Router, addr string) int {
	r.mu.Lock()
	p := r.pools[poolKey{addr: addr}]
	r.mu.Unlock()
	if p == nil {
		return -1
	}
	return p.idleCount()
}

func TestPoolReusesConnections(t *testing.T) {
	_, b, cc := newCountingBackend(t, "web-1", nil)
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	for i := range 20 {
		res := do(t, base, "GET", "web.test", fmt.Sprintf("/r%d", i), nil)
		if res.status != http.StatusOK || res.body != fmt.Sprintf("/r%d", i) || res.instance != "web-1" {
			t.Fatalf("request %d: %d %q from %q", i, res.status, res.body, res.instance)
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("backend accepted %d connections for 20 sequential requests, want 1", n)
	}
	if n := idleConns(r, b.Addr); n != 1 {
		t.Errorf("%d idle connections, want 1", n)
	}
	if st := r.Stats("web-1"); st != (BackendStats{Requests: 20}) {
		t.Errorf("stats %+v", st)
	}
}

func TestPoolDeadConnRetriedTransparently(t *testing.T) {
	srv, b, cc := newCountingBackend(t, "web-1", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, r.Method)
	})
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	for _, method := range []string{"GET", "POST", "PUT", "DELETE"} {
		if res := do(t, base, method, "web.test", "/", strings.NewReader("x")); res.status != http.StatusOK {
			t.Fatalf("%s before: %d", method, res.status)
		}
		// The instance drops its idle connections (a restart, or its own
		// keep-alive timeout); the router does not notice until it uses one.
		srv.CloseClientConnections()
		waitFor(t, "backend to close its connections", func() bool { return cc.closed.Load() == cc.opened.Load() })
		res := do(t, base, method, "web.test", "/", strings.NewReader("x"))
		if res.status != http.StatusOK || res.body != method {
			t.Errorf("%s on a dead pooled connection: %d %q, want it resent transparently", method, res.status, res.body)
		}
	}
	if st := r.Stats("web-1"); st.TransportErrors != 0 || st.FailedConnects != 0 || st.Requests != 8 || st.Outstanding != 0 {
		t.Errorf("stats %+v, want 8 clean requests", st)
	}
}

func TestPoolInstanceRestartedOnSameAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	serve := func(l net.Listener, name string) *http.Server {
		s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		})}
		go s.Serve(l)
		return s
	}
	first := serve(l, "first")
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{{ID: "w", Addr: addr}}})
	if res := do(t, base, "GET", "web.test", "/", nil); res.body != "first" {
		t.Fatalf("got %q", res.body)
	}
	first.Close() // closes the listener and the pooled connection
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	second := serve(l2, "second")
	t.Cleanup(func() { second.Close() })

	for range 3 {
		if res := do(t, base, "GET", "web.test", "/", nil); res.status != http.StatusOK || res.body != "second" {
			t.Fatalf("after restart: %d %q", res.status, res.body)
		}
	}
	if st := r.Stats("w"); st.TransportErrors != 0 || st.FailedConnects != 0 {
		t.Errorf("stats %+v, want no failures", st)
	}
}

// TestPoolConnClosedAfterRequestWritten covers an instance that closes a
// reused connection after reading a request, without answering: idempotent
// requests are resent on a fresh connection, others fail as they would with
// http.Transport.
func TestPoolConnClosedAfterRequestWritten(t *testing.T) {
	var seen sync.Map // method → count
	b := newRawBackend(t, "flaky", func(c net.Conn, br *bufio.Reader) {
		for n := 0; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			v, _ := seen.LoadOrStore(req.Method, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			if n == 1 {
				return // the second request on a connection is dropped
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	for i := range 4 {
		if res := do(t, base, "GET", "web.test", "/", nil); res.status != http.StatusOK || res.body != "ok" {
			t.Fatalf("GET %d: %d %q, want it resent on a fresh connection", i, res.status, res.body)
		}
	}
	if st := r.Stats("flaky"); st.TransportErrors != 0 || st.Requests != 4 {
		t.Errorf("after GETs: stats %+v, want 4 requests and no transport error", st)
	}
	posts := int64(1)
	if frontEnd == "lane" {
		// The event loops pool their own connections and leave a POST to
		// the fast server's goroutines: give those a used connection.
		if res := do(t, base, "POST", "web.test", "/", strings.NewReader("first")); res.status != http.StatusOK {
			t.Fatalf("first POST: %d %q", res.status, res.body)
		}
		posts++
	}
	// The pooled connection has served one request: a POST on it is
	// written, dropped, and must not be resent.
	res := do(t, base, "POST", "web.test", "/", strings.NewReader("charge"))
	if res.status != http.StatusBadGateway || !strings.Contains(res.body, "(tried 1 of 1)") {
		t.Errorf("POST: %d %q, want a 502 without resending", res.status, res.body)
	}
	if v, ok := seen.Load("POST"); !ok || v.(*atomic.Int64).Load() != posts {
		t.Errorf("POSTs reached the instance %v times, want %d (each exactly once)", v, posts)
	}
	if st := r.Stats("flaky"); st.TransportErrors != 1 || st.Outstanding != 0 {
		t.Errorf("stats %+v, want 1 transport error", st)
	}
}

func TestPoolChunkedBodiesAndTrailers(t *testing.T) {
	_, b, cc := newCountingBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Len")
		w.Header().Set("X-Request-Te", strings.Join(r.TransferEncoding, ","))
		body, _ := io.ReadAll(r.Body)
		for rest := body; len(rest) > 0; { // echo in small chunks, flushing each
			k := min(len(rest), 64)
			w.Write(rest[:k])
			w.(http.Flusher).Flush()
			rest = rest[k:]
		}
		w.Header().Set("X-Len", fmt.Sprint(len(body)))
	})
	r, base := newFront(t, Options{}, Route{Host: "echo.test", App: "s/echo", Backends: []Backend{b}})

	for i := range 3 {
		payload := strings.Repeat(fmt.Sprintf("chunk %d;", i), 50+i)
		req, _ := http.NewRequest("POST", base+"/", io.MultiReader(strings.NewReader(payload))) // no length: chunked
		req.Host = "echo.test"
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != payload {
			t.Fatalf("echo %d: %v, %d bytes, want %d", i, err, len(body), len(payload))
		}
		if te := resp.Header.Get("X-Request-Te"); te != "chunked" {
			t.Errorf("the instance saw Transfer-Encoding %q, want chunked", te)
		}
		if resp.ContentLength != -1 {
			t.Errorf("response ContentLength %d, want -1 (chunked)", resp.ContentLength)
		}
		if got := resp.Trailer.Get("X-Len"); got != fmt.Sprint(len(payload)) {
			t.Errorf("trailer X-Len = %q, want %d", got, len(payload))
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("%d backend connections for 3 chunked exchanges, want 1 (reused)", n)
	}
	if st := r.Stats("echo"); st.Outstanding != 0 || st.TransportErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPoolUnknownLengthStreamedToEnd(t *testing.T) {
	next := make(chan struct{})
	b := newRawBackend(t, "raw", func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		// No Content-Length, no chunking: the body ends when the
		// connection does.
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\npart one;")
		select {
		case <-next:
		case <-time.After(10 * time.Second):
		}
		io.WriteString(c, strings.Repeat("part two;", 1000))
	})
	r, base := newFront(t, Options{}, Route{Host: "raw.test", App: "s/raw", Backends: []Backend{b}})

	for i := range 2 {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Host = "raw.test"
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, len("part one;"))
		if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "part one;" {
			t.Fatalf("round %d: first part %q, %v (not streamed?)", i, first, err)
		}
		next <- struct{}{}
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(rest) != strings.Repeat("part two;", 1000) {
			t.Fatalf("round %d: rest %d bytes, %v", i, len(rest), err)
		}
	}
	if st := r.Stats("raw"); st != (BackendStats{Requests: 2}) {
		t.Errorf("stats %+v", st)
	}
	if n := idleConns(r, b.Addr); n != 0 {
		t.Errorf("%d idle connections after close-delimited responses, want 0", n)
	}
}

func TestPoolHeadAndBodylessResponses(t *testing.T) {
	_, b, cc := newCountingBackend(t, "web", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			w.Header().Set("Content-Length", "5000")
			if r.Method != http.MethodHead {
				w.Write(make([]byte, 5000))
			}
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			io.WriteString(w, "plain")
		}
	})
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	check := func(method, path string, wantStatus int, wantLen int64, wantBody string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.Host = "web.test"
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != wantStatus || resp.ContentLength != wantLen || string(body) != wantBody {
			t.Errorf("%s %s: %d, length %d, body %q, %v; want %d, %d, %q",
				method, path, resp.StatusCode, resp.ContentLength, body, err, wantStatus, wantLen, wantBody)
		}
	}
	for range 2 {
		check("HEAD", "/file", 200, 5000, "")
		check("GET", "/204", 204, 0, "")
		check("GET", "/304", 304, 0, "")
		check("GET", "/x", 200, 5, "plain")
		check("GET", "/file", 200, 5000, string(make([]byte, 5000)))
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("%d backend connections, want 1 (bodyless responses keep the connection)", n)
	}
	if st := r.Stats("web"); st.Outstanding != 0 || st.TransportErrors != 0 || st.Requests != 10 {
		t.Errorf("stats %+v", st)
	}
}

// TestPoolBodyAfterBodylessResponse: an instance that wrongly sends a body
// with a HEAD response must not have it taken for the next response.
func TestPoolBodyAfterBodylessResponse(t *testing.T) {
	b := newRawBackend(t, "sloppy", func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.Method == http.MethodHead {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
				time.Sleep(20 * time.Millisecond) // the stray body comes late
				io.WriteString(c, "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 5\r\n\r\nstray")
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
		}
	})
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	for i := range 3 {
		if res := do(t, base, "HEAD", "web.test", "/", nil); res.status != http.StatusOK {
			t.Fatalf("HEAD %d: %d", i, res.status)
		}
		time.Sleep(50 * time.Millisecond)
		if res := do(t, base, "GET", "web.test", "/", nil); res.status != http.StatusOK || res.body != "good" {
			t.Fatalf("GET %d after HEAD: %d %q, want the real response", i, res.status, res.body)
		}
	}
}

func TestPoolBackendClosesAfterResponse(t *testing.T) {
	_, b, cc := newCountingBackend(t, "closer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	for i := range 5 {
		if res := do(t, base, "GET", "web.test", "/", nil); res.status != http.StatusOK || res.body != "bye" {
			t.Fatalf("request %d: %d %q", i, res.status, res.body)
		}
		if res := do(t, base, "POST", "web.test", "/", strings.NewReader("x")); res.status != http.StatusOK {
			t.Fatalf("POST %d: %d", i, res.status)
		}
	}
	if n := cc.opened.Load(); n != 10 {
		t.Errorf("%d backend connections for 10 requests answered with Connection: close, want 10", n)
	}
	if n := idleConns(r, b.Addr); n != 0 {
		t.Errorf("%d idle connections, want 0", n)
	}
	if st := r.Stats("closer"); st != (BackendStats{Requests: 10}) {
		t.Errorf("stats %+v", st)
	}
}

func TestPoolIdleCapAndTimeout(t *testing.T) {
	const parallel = 8
	var entered atomic.Int64
	all := make(chan struct{})
	_, b, cc := newCountingBackend(t, "web", func(w http.ResponseWriter, r *http.Request) {
		if n := entered.Add(1); n == parallel {
			close(all)
		}
		<-all // the first requests are all in flight at once: one connection each
		io.WriteString(w, "ok")
	})
	r, base := newFront(t, Options{MaxIdleConnsPerBackend: 2, IdleConnTimeout: 200 * time.Millisecond},
		Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := tryDo(base, "GET", "web.test", "/", nil); err != nil || res.status != http.StatusOK {
				t.Errorf("%v %d", err, res.status)
			}
		}()
	}
	wg.Wait()
	if n := cc.opened.Load(); n != parallel {
		t.Fatalf("%d backend connections, want %d", n, parallel)
	}
	if n := idleConns(r, b.Addr); n != 2 {
		t.Errorf("%d idle connections, want the cap of 2", n)
	}
	waitFor(t, "idle connections to expire", func() bool {
		return idleConns(r, b.Addr) == 0 && cc.closed.Load() == parallel
	})
	// The pool keeps working after expiry.
	if res := do(t, base, "GET", "web.test", "/", nil); res.status != http.StatusOK {
		t.Errorf("after expiry: %d", res.status)
	}
}

func TestCloseClosesIdleConnections(t *testing.T) {
	_, b, cc := newCountingBackend(t, "web", nil)
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	do(t, base, "GET", "web.test", "/", nil)
	r.Close()
	waitFor(t, "the pooled connection to close", func() bool { return cc.closed.Load() == 1 })
	if res := do(t, base, "GET", "web.test", "/", nil); res.status != http.StatusOK {
		t.Errorf("after Close: %d, want the router still usable", res.status)
	}
}

func TestUpdateRetiresPoolsOfRemovedInstances(t *testing.T) {
	_, a, ca := newCountingBackend(t, "a", nil)
	_, b, _ := newCountingBackend(t, "b", nil)
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{a}})
	do(t, base, "GET", "web.test", "/", nil)
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	waitFor(t, "the removed instance's connection to close", func() bool { return ca.closed.Load() == 1 })
	if n := idleConns(r, a.Addr); n != -1 {
		t.Errorf("pool of the removed address still present (%d idle)", n)
	}
	if res := do(t, base, "GET", "web.test", "/", nil); res.instance != "b" {
		t.Errorf("got %q, want b", res.instance)
	}
}

func TestClientCancelAbortsInstanceRequest(t *testing.T) {
	canceled := make(chan struct{})
	entered := make(chan struct{}, 1)
	_, b := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done(): // the router closed the connection
			close(canceled)
		case <-time.After(20 * time.Second):
		}
	})
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/", nil)
	req.Host = "web.test"
	errc := make(chan error, 1)
	go func() {
		resp, err := testClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	if n := r.Outstanding("slow"); n != 1 {
		t.Errorf("outstanding %d, want 1", n)
	}
	cancel()
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the instance's request was not canceled after the client went away")
	}
	<-errc
	waitFor(t, "outstanding to drop", func() bool { return r.Outstanding("slow") == 0 })
	if st := r.Stats("slow"); st.TransportErrors != 0 {
		t.Errorf("stats %+v: a client cancel is not the instance's fault", st)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	_, b := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	r, base := newFront(t, Options{ResponseHeaderTimeout: 100 * time.Millisecond},
		Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	start := time.Now()
	res := do(t, base, "GET", "web.test", "/", nil)
	if res.status != http.StatusGatewayTimeout || !strings.Contains(res.body, "did not start answering within 100ms") {
		t.Errorf("status %d %q, want 504 naming the timeout", res.status, res.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if st := r.Stats("slow"); st.TransportErrors != 1 || st.Outstanding != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestTruncatedBodyAbortsClientResponse(t *testing.T) {
	b := newRawBackend(t, "short", func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
	})
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	res, err := tryDo(base, "GET", "web.test", "/", nil)
	if err == nil {
		t.Errorf("client got %d %q without an error; a truncated response must not look complete", res.status, res.body)
	}
	waitFor(t, "outstanding to drop", func() bool { return r.Outstanding("short") == 0 })
}

func TestInformationalResponsesRelayed(t *testing.T) {
	_, b := newBackend(t, "hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "page")
	})
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	var got []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got = append(got, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/", nil)
	req.Host = "web.test"
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := []string{"103 </app.css>; rel=preload"}; !reflect.DeepEqual(got, want) || string(body) != "page" {
		t.Errorf("1xx %q body %q, want %q then the page", got, body, want)
	}
}

// TestRequestWireFormat checks the bytes the lean forwarder writes. With
// Expect the fast server hands the request to net/http; without, it writes
// it from the raw head: both must give the same request.
func TestRequestWireFormat(t *testing.T) {
	for _, expect := range []bool{true, false} {
		t.Run(fmt.Sprintf("expect=%v", expect), func(t *testing.T) { testRequestWireFormat(t, expect) })
	}
}

func testRequestWireFormat(t *testing.T, expect bool) {
	heads := make(chan string, 1)
	b := newRawBackend(t, "raw", func(c net.Conn, br *bufio.Reader) {
		tp := textproto.NewReader(br)
		line, _ := tp.ReadLine()
		h, _ := tp.ReadMIMEHeader()
		var body []byte
		if h.Get("Content-Length") != "" {
			body = make([]byte, len("payload"))
			io.ReadFull(br, body)
		}
		delete(h, "X-Forwarded-For") // the client port varies
		heads <- fmt.Sprintf("%s|%v|%s", line, h, body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	req, _ := http.NewRequest("POST", base+"/p/a%2Fb?q=1&x=%zz", strings.NewReader("payload"))
	req.Host = "Web.test"
	req.Header.Set("User-Agent", "ua/1")
	req.Header.Set("Connection", "X-Hop, keep-alive")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Proxy-Authorization", "secret")
	req.Header.Set("Te", "trailers, deflate")
	req.Header.Set("Forwarded", "for=1.2.3.4")
	req.Header.Set("X-Forwarded-Host", "evil")
	req.Header["X-Multi"] = []string{"a", "b"}
	if expect {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := <-heads
	want := "POST /p/a%2Fb?q=1 HTTP/1.1|map[Content-Length:[7] Host:[Web.test] Te:[trailers] " +
		"User-Agent:[ua/1] X-Forwarded-Host:[Web.test] X-Forwarded-Proto:[http] X-Multi:[a b]]|payload"
	if got != want {
		t.Errorf("instance got\n  %s\nwant\n  %s", got, want)
	}
}

// TestReadHeadFastMatchesReadResponse compares the fast response-head
// parser with http.ReadResponse plus ReverseProxy's hop-by-hop filtering.
func TestReadHeadFastMatchesReadResponse(t *testing.T) {
	cases := []struct {
		head   string
		method string
		fast   bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nDate: x\r\n\r\n", "GET", true},
		{"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nx-CUSTOM-thing:  v1 \r\nX-Custom-Thing: v2\r\n\r\n", "GET", true},
		{"HTTP/1.1 404\r\nContent-Length: 0\r\nConnection: close\r\nKeep-Alive: timeout=5\r\n\r\n", "GET", true},
		{"HTTP/1.1 503 Busy\r\nContent-Length:7\r\nConnection: keep-alive\r\nX-Empty:\r\n\r\n", "POST", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", "HEAD", true},
		{"HTTP/1.1 200 OK\r\n\r\n", "HEAD", true},
		{"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", "DELETE", true},
		{"HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n", "GET", true},
		{"HTTP/1.1 200 OK\r\nX-Obs: \xe2\x9c\x93\r\nContent-Length: 1\r\n\r\n", "GET", true},
		// Not plain: left to http.ReadResponse.
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "GET", false}, // close-delimited
		{"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", "GET", false},
		{"HTTP/1.1 100 Continue\r\n\r\n", "GET", false},
		{"HTTP/1.1 101 Switching Protocols\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nPragma: no-cache\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: X-Foo\r\nX-Foo: 1\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Folded: a\r\n b\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nBad Key: a\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Ctl: a\x01b\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTrailer: X-T\r\n\r\n", "GET", false},
		{"HTTP/1.1 20x OK\r\nContent-Length: 1\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\nContent-Length: 1\n\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n" + strings.Repeat("X-Many: 1\r\n", maxFastHeaders) + "\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Big: " + strings.Repeat("x", connReadBufSize) + "\r\n\r\n", "GET", false},
	}
	for _, tc := range cases {
		const rest = "BODY"
		pc := &pconn{br: bufio.NewReaderSize(strings.NewReader(tc.head+rest), connReadBufSize)}
		h := http.Header{}
		head, ok := readHeadFast(pc, h, tc.method)
		if ok != tc.fast {
			t.Errorf("%q: fast=%v, want %v", tc.head, ok, tc.fast)
			continue
		}
		if !ok {
			if len(h) != 0 || pc.br.Buffered() != len(tc.head)+len(rest) && pc.br.Buffered() != pc.br.Size() {
				t.Errorf("%q: not plain, but consumed input or filled the header map", tc.head)
			}
			continue
		}
		if b, _ := io.ReadAll(pc.br); string(b) != rest {
			t.Errorf("%q: left %q in the buffer, want %q", tc.head, b, rest)
		}
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.head)), &http.Request{Method: tc.method})
		if err != nil {
			t.Fatalf("%q: ReadResponse: %v", tc.head, err)
		}
		want := http.Header{}
		copyResponseHeader(want, res.Header)
		if !reflect.DeepEqual(h, want) {
			t.Errorf("%q: headers\n  %v\nwant\n  %v", tc.head, h, want)
		}
		if head.status != res.StatusCode || head.contentLength != res.ContentLength || head.close != res.Close {
			t.Errorf("%q: status %d length %d close %v, want %d %d %v", tc.head,
				head.status, head.contentLength, head.close, res.StatusCode, res.ContentLength, res.Close)
		}
	}
}

// TestEarlyAnswerToLargeUpload: an instance that answers without reading a
// large streamed body, then closes, must have its answer relayed.
func TestEarlyAnswerToLargeUpload(t *testing.T) {
	_, b := newBackend(t, "strict", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second)) // safety net only
	const size = 8 << 20
	go func() {
		fmt.Fprintf(conn, "PUT /upload HTTP/1.1\r\nHost: web.test\r\nContent-Length: %d\r\n\r\n", size)
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := conn.Write(chunk); err != nil {
				return // the router gave up on the body
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "too large") ||
		resp.Header.Get(InstanceHeader) != "strict" {
		t.Errorf("got %d %q from %q, want the instance's 413", resp.StatusCode, body, resp.Header.Get(InstanceHeader))
	}
	waitFor(t, "outstanding to drop", func() bool { return r.Outstanding("strict") == 0 })
	if st := r.Stats("strict"); st.TransportErrors != 0 || st.Requests != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestReverseProxyFallbacks covers requests the lean forwarder leaves to the
// route's ReverseProxy.
func TestReverseProxyFallbacks(t *testing.T) {
	_, b := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %d %s", r.Method, n, r.Header.Get("Expect"))
	})
	route := Route{Host: "web.test", App: "s/web", Backends: []Backend{b}}

	t.Run("periodic flushing", func(t *testing.T) {
		r, base := newFront(t, Options{FlushInterval: 50 * time.Millisecond}, route)
		if res := do(t, base, "GET", "web.test", "/", nil); res.status != 200 || res.body != "GET 0 " || res.instance != "echo" {
			t.Errorf("got %d %q from %q", res.status, res.body, res.instance)
		}
		if n := idleConns(r, b.Addr); n != 0 {
			t.Errorf("the lean pool was used (%d idle)", n)
		}
	})
	t.Run("100-continue with a streamed body", func(t *testing.T) {
		_, base := newFront(t, Options{}, route)
		const size = 200 << 10
		req, _ := http.NewRequest("PUT", base+"/", strings.NewReader(strings.Repeat("x", size)))
		req.Host = "web.test"
		req.Header.Set("Expect", "100-continue")
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("PUT %d 100-continue", size); resp.StatusCode != 200 || string(body) != want {
			t.Errorf("got %d %q, want %q", resp.StatusCode, body, want)
		}
	})
	t.Run("100-continue with a small body", func(t *testing.T) {
		r, base := newFront(t, Options{}, route)
		req, _ := http.NewRequest("PUT", base+"/", strings.NewReader("small"))
		req.Host = "web.test"
		req.Header.Set("Expect", "100-continue")
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "PUT 5 " { // buffered: Expect dropped
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		if n := idleConns(r, b.Addr); n != 1 {
			t.Errorf("%d idle lean connections, want 1", n)
		}
	})
}
