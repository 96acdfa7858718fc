package router

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// --- helpers -----------------------------------------------------------

// newBackend starts a real HTTP server on 127.0.0.1 standing for one
// instance. A nil handler answers 200 with the request path.
func newBackend(t testing.TB, id string, h http.HandlerFunc) (*httptest.Server, Backend) {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, Backend{ID: id, Addr: srv.Listener.Addr().String()}
}

// frontEnd is the server newFront puts in front of the router: "std"
// (http.Server with Router.ServeHTTP), "fast" (the router's own Server
// with a goroutine per connection) or "lane" (the router's own Server with
// its event loops, where the platform has them). TestMain runs the whole
// suite once with each.
var frontEnd = "std"

func TestMain(m *testing.M) {
	fronts := []string{"std", "fast", "lane"}
	if f := os.Getenv("ROUTER_TEST_FRONT"); f != "" {
		fronts = []string{f} // run one front end only
	}
	code := 0
	for _, f := range fronts {
		frontEnd = f
		fmt.Printf("=== router front end: %s\n", f)
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

// newFront starts the router on its own port, behind the front end under
// test, and returns its base URL.
func newFront(t testing.TB, opts Options, routes ...Route) (*Router, string) {
	t.Helper()
	r := New(opts)
	r.Update(routes)
	if frontEnd != "std" {
		_, url := newFastFront(t, r)
		return r, url
	}
	front := httptest.NewServer(r)
	t.Cleanup(func() {
		front.Close()
		r.Close()
	})
	return r, front.URL
}

// newFastFront serves r with the router's own Server, configured as the
// cell does, until the test ends.
func newFastFront(t testing.TB, r *Router) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(r, 10*time.Second, 90*time.Second, 0)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
		r.Close()
	})
	// The lane pass must run on the event loops (FlushInterval keeps them
	// off by design): Serve falls back to goroutines without a word when it
	// cannot set them up, which would make the pass a copy of the fast one.
	if frontEnd == "lane" && runtime.GOOS == "linux" && r.opts.FlushInterval == 0 {
		waitForLanes(t, srv)
	}
	return srv, "http://" + ln.Addr().String()
}

// lanesDown is set once a server's event loops did not start: the servers
// of later tests get a short wait only, so that a lane pass on the
// goroutines fails in seconds, not in ten per test.
var lanesDown atomic.Bool

// waitForLanes fails the test unless srv's event loops run: Serve
// registers its lane once every loop is set up, and not at all when it
// falls back to a goroutine per connection.
func waitForLanes(t testing.TB, srv *Server) {
	t.Helper()
	within := 10 * time.Second
	if lanesDown.Load() {
		within = 200 * time.Millisecond
	}
	for deadline := time.Now().Add(within); ; time.Sleep(time.Millisecond) {
		srv.mu.Lock()
		n := len(srv.lanes)
		srv.mu.Unlock()
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			lanesDown.Store(true)
			t.Fatalf("the event loops did not start within %s: Serve fell back to goroutines", within)
		}
	}
}

// newServer returns the router's Server for r with the given limits, with
// or without event loops as the front end under test says.
func newServer(r *Router, readHeader, idle time.Duration, maxHeader int) *Server {
	return &Server{Router: r, ReadHeaderTimeout: readHeader, IdleTimeout: idle, MaxHeaderBytes: maxHeader,
		DisableEventLoop: frontEnd != "lane"}
}

// closedAddr returns an address on which nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var testClient = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	Timeout:   30 * time.Second, // a safety net against hangs, not an assertion
}

type result struct {
	status   int
	body     string
	instance string
	header   http.Header
}

// do sends one request with the given Host header through the router.
func do(t testing.TB, base, method, host, path string, body io.Reader) result {
	t.Helper()
	res, err := tryDo(base, method, host, path, body)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	return res
}

func tryDo(base, method, host, path string, body io.Reader) (result, error) {
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		return result{}, err
	}
	req.Host = host
	resp, err := testClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{resp.StatusCode, string(b), resp.Header.Get(InstanceHeader), resp.Header}, nil
}

// waitFor polls cond until it holds; it fails the test after a generous
// deadline so that a bug shows up as a failure rather than a hang.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// --- matching ----------------------------------------------------------

func TestHostAndPathMatching(t *testing.T) {
	_, root := newBackend(t, "root", nil)
	_, api := newBackend(t, "api", nil)
	_, v2 := newBackend(t, "v2", nil)
	_, other := newBackend(t, "other", nil)
	_, base := newFront(t, Options{},
		Route{Host: "App.Example.TEST", Path: "", App: "s/root", Backends: []Backend{root}},
		Route{Host: "app.example.test", Path: "/api", App: "s/api", Backends: []Backend{api}},
		Route{Host: "app.example.test", Path: "/api/v2/", App: "s/v2", Backends: []Backend{v2}},
		Route{Host: "other.test:9999", Path: "/only", App: "s/other", Backends: []Backend{other}},
	)

	tests := []struct {
		host, path string
		want       string // instance ID, or "404"
	}{
		{"app.example.test", "/", "root"},
		{"APP.example.Test:8080", "/x", "root"},
		{"app.example.test.", "/", "root"},
		{"App.Example.Test..:8080", "/", "root"},
		{"app.example.test", "/api", "api"},
		{"app.example.test", "/api/", "api"},
		{"app.example.test", "/api/x/y", "api"},
		{"app.example.test", "/apix", "root"},
		{"app.example.test", "/api/v2", "v2"},
		{"app.example.test", "/api/v2/users?q=1", "v2"},
		{"app.example.test", "/api/v2x", "api"},
		{"other.test", "/only", "other"},
		{"other.test:1", "/only/a", "other"},
		{"other.test", "/", "404"},
		{"other.test", "/onlyx", "404"},
		{"nope.test", "/", "404"},
	}
	for _, tc := range tests {
		res := do(t, base, "GET", tc.host, tc.path, nil)
		if tc.want == "404" {
			if res.status != http.StatusNotFound || res.instance != "" {
				t.Errorf("%s%s: got %d from %q, want 404 from the router", tc.host, tc.path, res.status, res.instance)
			}
			continue
		}
		if res.status != http.StatusOK || res.instance != tc.want {
			t.Errorf("%s%s: got %d from %q, want 200 from %q", tc.host, tc.path, res.status, res.instance, tc.want)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":      "example.com",
		"example.com:8080": "example.com",
		"example.com.":     "example.com",
		"[::1]:80":         "[::1]",
		"[::1]":            "[::1]",
		"":                 "",
		// Spellings that once keyed differently on a second pass (a second
		// port or trailing dot), and Unicode folding that must not reach
		// an ASCII host.
		"web.test..":             "web.test",
		"WEB.Example.TEST.:8443": "web.example.test",
		"a:1:2":                  "a",
		"a.:80.":                 "a",
		"x.test:80:80":           "x.test",
		"[::1]]:80":              "[::1]",
		"::1":                    "",
		"K\u212aelvin.test":      "k\u212aelvin.test",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnknownHost404(t *testing.T) {
	_, base := newFront(t, Options{})
	res := do(t, base, "GET", "X.test:81", "/", nil)
	if res.status != http.StatusNotFound {
		t.Fatalf("status %d, want 404", res.status)
	}
	if want := `paved: no route for host "x.test"`; !strings.Contains(res.body, want) {
		t.Errorf("body %q does not contain %q", res.body, want)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
}

func TestNoBackends502(t *testing.T) {
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "space/web"})
	res := do(t, base, "GET", "web.test", "/", nil)
	if res.status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", res.status)
	}
	if want := `paved: app "space/web" has no healthy instance`; !strings.Contains(res.body, want) {
		t.Errorf("body %q does not contain %q", res.body, want)
	}
}

// --- forwarding --------------------------------------------------------

func TestForwardedHeadersAndInstanceHeader(t *testing.T) {
	for _, trust := range []bool{false, true} {
		t.Run(fmt.Sprintf("trust=%v", trust), func(t *testing.T) {
			seen := make(chan http.Header, 1)
			_, b := newBackend(t, "web-1", func(w http.ResponseWriter, r *http.Request) {
				h := r.Header.Clone()
				h.Set("Host", r.Host)
				seen <- h
				w.Header().Set(InstanceHeader, "spoofed")
				w.Header().Set("Connection", "X-Hop")
				w.Header().Set("X-Hop", "1")
			})
			_, base := newFront(t, Options{TrustForwarded: trust},
				Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

			req, _ := http.NewRequest("GET", base+"/", nil)
			req.Host = "Web.test:8443"
			req.Header.Set("X-Forwarded-For", "6.6.6.6")
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := testClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			if got := resp.Header.Values(InstanceHeader); len(got) != 1 || got[0] != "web-1" {
				t.Errorf("%s = %q, want [web-1]", InstanceHeader, got)
			}
			if resp.Header.Get("X-Hop") != "" {
				t.Error("hop-by-hop header X-Hop reached the client")
			}
			h := <-seen
			wantXFF, wantProto := "127.0.0.1", "http"
			if trust {
				wantXFF, wantProto = "6.6.6.6, 127.0.0.1", "https"
			}
			for k, want := range map[string]string{
				"Host":              "Web.test:8443",
				"X-Forwarded-For":   wantXFF,
				"X-Forwarded-Proto": wantProto,
				"X-Forwarded-Host":  "Web.test:8443",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("backend saw %s %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestPostBodiesIntact(t *testing.T) {
	echoSum := func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.New()
		n, err := io.Copy(sum, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x", n, sum.Sum(nil))
	}
	_, live := newBackend(t, "live", echoSum)
	dead := Backend{ID: "dead", Addr: closedAddr(t)}
	// No cooldown, so the dead instance keeps being tried and every body
	// path is also exercised through a retry.
	r, base := newFront(t, Options{FailureCooldown: -1},
		Route{Host: "up.test", App: "s/up", Backends: []Backend{live, dead}})

	for _, size := range []int{1, 1000, 64 << 10, 64<<10 + 1, 1 << 20} {
		data := make([]byte, size)
		rand.Read(data)
		sum := sha256.Sum256(data)
		want := fmt.Sprintf("%d %s", size, hex.EncodeToString(sum[:]))
		bodies := map[string]func() io.Reader{
			"sized":   func() io.Reader { return bytes.NewReader(data) },
			"chunked": func() io.Reader { return io.MultiReader(bytes.NewReader(data)) }, // hides the length
		}
		for kind, body := range bodies {
			for range 2 { // alternate start instance: one of the two hits the dead one
				res := do(t, base, "POST", "up.test", "/", body())
				if res.status != http.StatusOK || res.body != want {
					t.Errorf("%s body of %d bytes: got %d %q, want %q", kind, size, res.status, res.body, want)
				}
			}
		}
	}
	if st := r.Stats("dead"); st.FailedConnects < 5 || st.Outstanding != 0 {
		t.Errorf("dead stats %+v, want several failed connects and nothing outstanding", st)
	}
}

func TestServerSentEventsAreFlushed(t *testing.T) {
	gotFirst := make(chan struct{})
	_, b := newBackend(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		select { // the second event is only sent once the client saw the first
		case <-gotFirst:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: 2\n\n")
	})
	_, base := newFront(t, Options{}, Route{Host: "sse.test", App: "s/sse", Backends: []Backend{b}})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/", nil)
	req.Host = "sse.test"
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: 1\n" {
		t.Fatalf("first event: %q, %v (not flushed?)", line, err)
	}
	close(gotFirst)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: 2\n\n" {
		t.Fatalf("rest: %q, %v", rest, err)
	}
}

func TestUpgradeIsProxiedAndCounted(t *testing.T) {
	_, b := newBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		io.Copy(conn, brw) // echo until the client hangs up
	})
	r, base := newFront(t, Options{}, Route{Host: "ws.test", App: "s/ws", Backends: []Backend{b}})

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // safety net only
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get(InstanceHeader) != "ws" {
		t.Fatalf("got %d with instance %q, want 101 from ws", resp.StatusCode, resp.Header.Get(InstanceHeader))
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo: %q, %v", line, err)
	}
	if n := r.Outstanding("ws"); n != 1 {
		t.Errorf("outstanding during upgrade = %d, want 1", n)
	}
	conn.Close()
	waitFor(t, "upgraded connection to drain", func() bool { return r.Outstanding("ws") == 0 })
}

// --- balancing ---------------------------------------------------------

func TestLoadSpreadsEvenly(t *testing.T) {
	var backends []Backend
	for i := range 3 {
		_, b := newBackend(t, fmt.Sprintf("i%d", i), nil)
		backends = append(backends, b)
	}
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: backends})

	counts := map[string]int{}
	for range 300 {
		res := do(t, base, "GET", "web.test", "/", nil)
		if res.status != http.StatusOK {
			t.Fatalf("status %d", res.status)
		}
		counts[res.instance]++
	}
	for _, b := range backends {
		if counts[b.ID] < 80 {
			t.Errorf("instance %s got %d of 300 requests (%v)", b.ID, counts[b.ID], counts)
		}
		if st := r.Stats(b.ID); st.Requests != int64(counts[b.ID]) || st.Outstanding != 0 {
			t.Errorf("stats of %s = %+v, want %d requests", b.ID, st, counts[b.ID])
		}
	}
}

// slowBackends starts instances that hold requests to /slow until release
// is closed, reporting their ID on entered.
func slowBackends(t *testing.T, ids ...string) (bs []Backend, entered chan string, release chan struct{}) {
	entered, release = make(chan string, len(ids)), make(chan struct{})
	for _, id := range ids {
		_, b := newBackend(t, id, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				entered <- id
				<-release
			}
			io.WriteString(w, "ok")
		})
		bs = append(bs, b)
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return bs, entered, release
}

func TestLeastOutstandingPicksIdleInstance(t *testing.T) {
	bs, entered, release := slowBackends(t, "a", "b")
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: bs})

	slowDone := make(chan result)
	go func() { slowDone <- do(t, base, "GET", "web.test", "/slow", nil) }()
	busy := <-entered
	idle := map[string]string{"a": "b", "b": "a"}[busy]

	for range 20 {
		if res := do(t, base, "GET", "web.test", "/fast", nil); res.instance != idle {
			t.Fatalf("request went to %q while %q held a slow request; want %q", res.instance, busy, idle)
		}
	}
	if n := r.Outstanding(busy); n != 1 {
		t.Errorf("Outstanding(%s) = %d, want 1", busy, n)
	}
	close(release)
	if res := <-slowDone; res.status != http.StatusOK || res.instance != busy {
		t.Errorf("slow request: %d from %q", res.status, res.instance)
	}
	waitFor(t, "slow request to finish", func() bool { return r.Outstanding(busy) == 0 })
}

func TestDrainSurvivesUpdate(t *testing.T) {
	bs, entered, release := slowBackends(t, "a")
	_, b := newBackend(t, "b", nil)
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: bs})

	slowDone := make(chan result)
	go func() { slowDone <- do(t, base, "GET", "web.test", "/slow", nil) }()
	<-entered

	// The control plane takes "a" out of rotation, then waits for it to drain.
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	if n := r.Outstanding("a"); n != 1 {
		t.Fatalf("Outstanding(a) after removal = %d, want 1", n)
	}
	if res := do(t, base, "GET", "web.test", "/", nil); res.instance != "b" {
		t.Errorf("new request went to %q, want b", res.instance)
	}
	close(release)
	if res := <-slowDone; res.status != http.StatusOK {
		t.Errorf("in-flight request on removed instance: %d", res.status)
	}
	waitFor(t, "a to drain", func() bool { return r.Outstanding("a") == 0 })
	if st := r.Stats("a"); st.Requests != 1 {
		t.Errorf("stats of removed instance: %+v, want 1 request", st)
	}
}

func TestStatsCount5xx(t *testing.T) {
	_, b := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	for range 3 {
		res := do(t, base, "GET", "web.test", "/", nil)
		if res.status != http.StatusServiceUnavailable || res.instance != "bad" {
			t.Fatalf("got %d from %q, want the instance's 503 passed through", res.status, res.instance)
		}
	}
	if st := r.Stats("bad"); st != (BackendStats{Requests: 3, Responses5xx: 3}) {
		t.Errorf("stats %+v", st)
	}
	if st := r.Stats("unknown"); st != (BackendStats{}) {
		t.Errorf("unknown instance stats %+v, want zero", st)
	}
}

// --- failures ----------------------------------------------------------

func TestConnectFailureRetriedOnLiveInstance(t *testing.T) {
	_, live := newBackend(t, "live", nil)
	dead := Backend{ID: "dead", Addr: closedAddr(t)}
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{live, dead}})

	for range 10 {
		res := do(t, base, "GET", "web.test", "/", nil)
		if res.status != http.StatusOK || res.instance != "live" {
			t.Fatalf("got %d from %q, want 200 from live", res.status, res.instance)
		}
	}
	st := r.Stats("dead")
	if st.FailedConnects < 1 || st.Requests != st.FailedConnects || st.Outstanding != 0 {
		t.Errorf("dead stats %+v, want >= 1 failed connect, all requests failed, none outstanding", st)
	}
	if st := r.Stats("live"); st.Requests != 10 || st.FailedConnects != 0 {
		t.Errorf("live stats %+v", st)
	}
}

func TestAllInstancesDown502(t *testing.T) {
	dead1 := Backend{ID: "d1", Addr: closedAddr(t)}
	dead2 := Backend{ID: "d2", Addr: closedAddr(t)}
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "space/web", Backends: []Backend{dead1, dead2}})
	res := do(t, base, "POST", "web.test", "/", strings.NewReader("payload"))
	if res.status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", res.status)
	}
	if want := `paved: no instance of app "space/web" responded (tried 2 of 2)`; !strings.Contains(res.body, want) {
		t.Errorf("body %q does not contain %q", res.body, want)
	}
	if res.instance != "" {
		t.Errorf("router error carries %s %q", InstanceHeader, res.instance)
	}
	for _, id := range []string{"d1", "d2"} {
		if st := r.Stats(id); st.FailedConnects != 1 || st.Outstanding != 0 {
			t.Errorf("%s stats %+v", id, st)
		}
	}
}

func TestBrokenConnectionRetriesOnlyIdempotentRequests(t *testing.T) {
	var crashed atomic.Int64
	// "crash" reads the request, then drops the connection without a
	// response, like an instance dying mid-request.
	_, crash := newBackend(t, "crash", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		crashed.Add(1)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	})
	_, ok := newBackend(t, "ok", nil)
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{crash, ok}})

	// The scan start rotates, so a few requests are enough for some of them
	// to try "crash" first.
	for range 4 {
		if res := do(t, base, "GET", "web.test", "/", nil); res.status != http.StatusOK || res.instance != "ok" {
			t.Errorf("GET: %d from %q, want it retried on ok", res.status, res.instance)
		}
	}
	var got502 int
	for range 4 {
		before := crashed.Load()
		res := do(t, base, "POST", "web.test", "/", strings.NewReader("charge card"))
		switch {
		case res.status == http.StatusOK && res.instance == "ok":
		case res.status == http.StatusBadGateway && strings.Contains(res.body, "(tried 1 of 2)"):
			got502++
			if n := crashed.Load() - before; n != 1 {
				t.Errorf("failed POST reached instances %d times, want exactly once", n)
			}
		default:
			t.Errorf("POST: %d %q from %q", res.status, res.body, res.instance)
		}
	}
	if got502 == 0 {
		t.Error("no POST hit the crashing instance; want it to fail without being resent")
	}
	for range 4 {
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader("charge card"))
		req.Host = "web.test"
		req.Header.Set("Idempotency-Key", "k1")
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST with Idempotency-Key: %d, want it retried", resp.StatusCode)
		}
	}
	st := r.Stats("crash")
	if st.TransportErrors < 3 || st.TransportErrors != st.Requests || st.FailedConnects != 0 || st.Outstanding != 0 {
		t.Errorf("crash stats %+v, want every request counted as a transport error", st)
	}
}

func TestInstanceKilledMidRunHasNoClientFailures(t *testing.T) {
	payload := strings.Repeat("x", 1024)
	var servers []*httptest.Server
	var backends []Backend
	for i := range 3 {
		srv, b := newBackend(t, fmt.Sprintf("i%d", i), func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, payload)
		})
		servers, backends = append(servers, srv), append(backends, b)
	}
	r, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: backends})

	const workers, perWorker = 4, 250
	var done, failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				res, err := tryDo(base, "GET", "web.test", "/", nil)
				if err == nil && (res.status != http.StatusOK || res.body != payload) {
					err = fmt.Errorf("status %d body %.40q", res.status, res.body)
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				done.Add(1)
			}
		}()
	}
	// Kill instance i0 abruptly once traffic is flowing: no new connections,
	// and every existing one (idle or busy) is cut.
	waitFor(t, "traffic", func() bool { return done.Load() >= workers*perWorker/4 })
	servers[0].Listener.Close()
	servers[0].CloseClientConnections()
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d client requests failed; first: %v", n, workers*perWorker, firstErr.Load())
	}
	waitFor(t, "killed instance to drain", func() bool { return r.Outstanding("i0") == 0 })
	t.Logf("killed instance stats: %+v", r.Stats("i0"))
}

func TestConcurrentUpdateAndServe(t *testing.T) {
	var bs []Backend
	for i := range 3 {
		_, b := newBackend(t, fmt.Sprintf("i%d", i), nil)
		bs = append(bs, b)
	}
	tables := [][]Route{
		{{Host: "web.test", App: "s/web", Backends: []Backend{bs[0], bs[1]}}},
		{{Host: "web.test", App: "s/web", Backends: []Backend{bs[1], bs[2]}},
			{Host: "web.test", Path: "/api", App: "s/api", Backends: []Backend{bs[0]}}},
		{{Host: "web.test", App: "s/web", Backends: []Backend{bs[2], bs[0], bs[2]}}},
	}
	r, base := newFront(t, Options{}, tables[0]...)

	stop := make(chan struct{})
	updaterDone := make(chan struct{})
	go func() {
		defer close(updaterDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r.Update(tables[i%len(tables)])
			_ = r.Stats("i1")
			_ = r.Outstanding("i2")
			time.Sleep(100 * time.Microsecond) // let requests interleave; not an assertion
		}
	}()
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				res, err := tryDo(base, "GET", "web.test", []string{"/", "/api/x"}[j%2], nil)
				if err != nil || res.status != http.StatusOK {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-updaterDone
	if n := failures.Load(); n != 0 {
		t.Errorf("%d requests failed during concurrent updates", n)
	}
	for _, b := range bs {
		if n := r.Outstanding(b.ID); n != 0 {
			t.Errorf("Outstanding(%s) = %d after all requests finished", b.ID, n)
		}
	}
}

// --- benchmarks --------------------------------------------------------

func benchBackend(b *testing.B) *httptest.Server {
	payload := bytes.Repeat([]byte("x"), 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(payload)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchGet hammers url in parallel with a keep-alive client.
func benchGet(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 256, DisableCompression: true,
	}}
	b.Cleanup(client.CloseIdleConnections)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n != 1024 {
				b.Errorf("status %d, %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
}

// BenchmarkBackend is the baseline: the same client talking to the backend
// directly. The difference to BenchmarkRouter is the router's cost (which
// includes a second HTTP server and client hop).
func BenchmarkBackend(b *testing.B) {
	benchGet(b, benchBackend(b).URL)
}

// BenchmarkRouter runs behind each front end in turn (see TestMain).
func BenchmarkRouter(b *testing.B) {
	srv := benchBackend(b)
	_, url := newFront(b, Options{}, Route{Host: "127.0.0.1", App: "bench/app", Backends: []Backend{
		{ID: "bench-1", Addr: srv.Listener.Addr().String()},
	}})
	benchGet(b, url)
}
