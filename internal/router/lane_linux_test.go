//go:build linux

package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newLaneServer serves r with event loops until the test ends.
func newLaneServer(t *testing.T, r *Router, loops int) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Router: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second, EventLoops: loops}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		r.Close()
	})
	waitForLanes(t, srv) // not the goroutines Serve falls back to
	return srv, "http://" + ln.Addr().String()
}

func laneLoads(srv *Server) []int64 {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var loads []int64
	for _, l := range srv.lanes {
		for _, lp := range l.loops {
			loads = append(loads, lp.load.Load())
		}
	}
	return loads
}

// The kernel wakes one waiting loop per new connection, often the same
// one; accept gives each connection to the least loaded loop instead.
func TestLaneSpreadsConnectionsOverLoops(t *testing.T) {
	b, _ := echoBackend(t, "echo")
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	srv, base := newLaneServer(t, r, 2)
	for range 16 {
		c, br := dialFront(t, base)
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: web.test\r\n\r\n")
		if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "GET /x " {
			t.Fatalf("%d %q", res.StatusCode, body)
		}
	}
	loads := laneLoads(srv)
	if len(loads) != 2 || loads[0] != 8 || loads[1] != 8 {
		t.Errorf("connections per loop %v, want [8 8]", loads)
	}
}

// A response the loop does not relay (chunked) is finished by a goroutine,
// which then serves the connection: the requests before, at and after the
// hand-over are answered in order, and the instance's counters balance.
func TestLaneHandsOverAtAChunkedResponse(t *testing.T) {
	_, b := newBackend(t, "web", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			io.WriteString(w, "one,")
			w.(http.Flusher).Flush()
			io.WriteString(w, "two")
			return
		}
		io.WriteString(w, "plain "+r.URL.Path)
	})
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	srv, base := newLaneServer(t, r, 1)
	c, br := dialFront(t, base)
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: web.test\r\n\r\n")
	if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "plain /a" {
		t.Fatalf("before: %d %q", res.StatusCode, body)
	}
	if n := srv.laneConns.Load(); n != 1 {
		t.Fatalf("%d connections on the loops, want 1", n)
	}
	// Pipelined: the chunked answer and the request after it.
	io.WriteString(c, "GET /chunked HTTP/1.1\r\nHost: web.test\r\n\r\nGET /b HTTP/1.1\r\nHost: web.test\r\n\r\n")
	res, body := readResp(t, br, "GET")
	if res.StatusCode != 200 || body != "one,two" || res.TransferEncoding == nil {
		t.Errorf("at the hand-over: %d %q (transfer encoding %v), want a chunked 200 \"one,two\"", res.StatusCode, body, res.TransferEncoding)
	}
	if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "plain /b" {
		t.Errorf("after: %d %q", res.StatusCode, body)
	}
	io.WriteString(c, "GET /c HTTP/1.1\r\nHost: web.test\r\n\r\n")
	if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "plain /c" {
		t.Errorf("on the goroutine: %d %q", res.StatusCode, body)
	}
	if n := srv.laneConns.Load(); n != 0 {
		t.Errorf("%d connections on the loops after the hand-over, want 0", n)
	}
	if st := r.Stats("web"); st.Requests != 4 || st.Outstanding != 0 || st.TransportErrors != 0 {
		t.Errorf("stats %+v, want 4 requests, none outstanding", st)
	}
}

// A request the loop does not take (a POST) goes with the bytes read after
// it to a goroutine, after the responses the loop still had to write.
func TestLaneHandsOverAtAPost(t *testing.T) {
	b, n := echoBackend(t, "echo")
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	srv, base := newLaneServer(t, r, 1)
	c, br := dialFront(t, base)
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: web.test\r\n\r\n"+
		"POST /2 HTTP/1.1\r\nHost: web.test\r\nContent-Length: 4\r\n\r\nbody"+
		"GET /3 HTTP/1.1\r\nHost: web.test\r\n\r\n")
	for i, want := range []string{"GET /1 ", "POST /2 body", "GET /3 "} {
		if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != want {
			t.Errorf("response %d: %d %q, want %q", i, res.StatusCode, body, want)
		}
	}
	if n.Load() != 3 {
		t.Errorf("%d requests reached the instance, want 3", n.Load())
	}
	waitFor(t, "the connection to leave the loops", func() bool { return srv.laneConns.Load() == 0 })
}

// Closing the listener itself stops accepting, as with net/http, though
// the loops accept on a duplicate of its socket; open connections are
// still served.
func TestLaneStopsAcceptingWhenTheListenerCloses(t *testing.T) {
	b, _ := echoBackend(t, "echo")
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Router: r, EventLoops: 2}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); r.Close() })
	base := "http://" + ln.Addr().String()
	c, br := dialFront(t, base)
	io.WriteString(c, "GET /before HTTP/1.1\r\nHost: web.test\r\n\r\n")
	readResp(t, br, "GET")

	ln.Close()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want the listener's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running after its listener was closed")
	}
	if c2, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c2.Close()
		t.Error("still accepting connections after the listener was closed")
	}
	io.WriteString(c, "GET /after HTTP/1.1\r\nHost: web.test\r\n\r\n")
	if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "GET /after " {
		t.Errorf("open connection after the close: %d %q", res.StatusCode, body)
	}
}

// An instance addressed by name is left to the goroutines, which resolve
// it: the loops dial IP addresses only.
func TestLaneLeavesNamedInstances(t *testing.T) {
	srvB, _ := newBackend(t, "named", nil)
	_, port, _ := net.SplitHostPort(srvB.Listener.Addr().String())
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{{ID: "named", Addr: net.JoinHostPort("localhost", port)}}}})
	_, base := newLaneServer(t, r, 1)
	c, br := dialFront(t, base)
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: web.test\r\n\r\n")
	if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "/x" {
		t.Errorf("%d %q, want 200 \"/x\"", res.StatusCode, body)
	}
	if st := r.Stats("named"); st.FailedConnects != 0 || st.Requests != 1 {
		t.Errorf("stats %+v, want 1 request and no failed connect", st)
	}
}

// Mixed traffic through the loops — plain, chunked, slow, large and
// closing responses; GET, HEAD and POST; clients that give up after 1 to
// 40 ms — gets the right bodies, and leaves no request outstanding and no
// connection behind once the clients are gone.
func TestLaneUnderMixedLoad(t *testing.T) {
	if frontEnd != "lane" {
		t.Skip("runs in the lane pass")
	}
	big := strings.Repeat("b", 200<<10)
	h := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			io.WriteString(w, "c1,")
			w.(http.Flusher).Flush()
			io.WriteString(w, "c2")
		case "/slow":
			time.Sleep(5 * time.Millisecond)
			io.WriteString(w, "slow")
		case "/big":
			io.WriteString(w, big)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "closed")
		default:
			fmt.Fprintf(w, "%s %s", r.URL.Path, body)
		}
	}
	_, b1 := newBackend(t, "b1", h)
	_, b2 := newBackend(t, "b2", h)
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b1, b2}}})
	srv, base := newLaneServer(t, r, 2)
	want := map[string]string{"/chunked": "c1,c2", "/slow": "slow", "/big": big, "/close": "closed"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad, good := 0, 0
	var onLoops atomic.Bool // a connection was seen on the event loops
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		bad++
		if bad < 5 {
			t.Errorf(format, args...)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			tr := &http.Transport{MaxIdleConnsPerHost: 4}
			cl := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			paths := []string{"/plain", "/chunked", "/slow", "/big", "/close"}
			for time.Now().Before(deadline) {
				p := paths[rng.Intn(len(paths))]
				method := []string{"GET", "GET", "HEAD", "POST"}[rng.Intn(4)]
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rng.Intn(40))*time.Millisecond)
				var body io.Reader
				if method == "POST" {
					body = strings.NewReader("data")
				}
				req, _ := http.NewRequestWithContext(ctx, method, base+p, body)
				req.Host = "web.test"
				// Only the client's own deadline may cut an exchange short: a
				// reset, a malformed or a truncated response is a lane bug.
				res, err := cl.Do(req)
				if srv.laneConns.Load() > 0 {
					onLoops.Store(true)
				}
				if err != nil {
					if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
						report("%s %s: %v", method, p, err)
					}
					cancel()
					continue
				}
				got, err := io.ReadAll(res.Body)
				res.Body.Close()
				gaveUp := errors.Is(ctx.Err(), context.DeadlineExceeded)
				cancel()
				if err != nil {
					if !gaveUp {
						report("%s %s: reading the body: %v", method, p, err)
					}
					continue
				}
				exp, ok := want[p]
				if !ok {
					exp = p + " "
					if method == "POST" {
						exp += "data"
					}
				}
				if method == "HEAD" {
					exp = ""
				}
				if res.StatusCode != 200 || string(got) != exp {
					report("%s %s: %d %q", method, p, res.StatusCode, string(got)[:min(len(got), 60)])
					continue
				}
				mu.Lock()
				good++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	waitFor(t, "outstanding to drain", func() bool {
		return r.Stats("b1").Outstanding == 0 && r.Stats("b2").Outstanding == 0
	})
	waitFor(t, "lane connections to go", func() bool { return srv.laneConns.Load() == 0 })
	if n := r.Stats("b1").Requests + r.Stats("b2").Requests; n < 100 {
		t.Errorf("only %d requests reached the instances", n)
	}
	if good < 100 {
		t.Errorf("only %d correct responses (%d wrong)", good, bad)
	}
	if bad >= 5 {
		t.Errorf("%d wrong or failed exchanges in all", bad)
	}
	if !onLoops.Load() {
		t.Error("no connection was ever on the event loops during the load")
	}
}
