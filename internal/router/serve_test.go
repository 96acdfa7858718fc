package router

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of what the router's own server (serve.go) adds to the front end.
// Those that check plain HTTP/1.1 semantics use newFront and run behind
// both front ends; those about Server itself run in the fast pass only.

// fastOnly skips a test of Server itself in the std pass of TestMain; it
// runs in the fast pass and, with the event loops, in the lane pass.
func fastOnly(t *testing.T) {
	t.Helper()
	if frontEnd == "std" {
		t.Skip("tests the router's own server; runs in the fast and lane passes")
	}
}

// dialFront opens a raw connection to a front end URL.
func dialFront(t *testing.T, base string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second)) // safety net only
	return c, bufio.NewReader(c)
}

// readResp reads one final response off a raw connection, body included.
func readResp(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	for err == nil && res.StatusCode < 200 {
		res, err = http.ReadResponse(br, &http.Request{Method: method}) // 100 Continue
	}
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading a response body: %v", err)
	}
	return res, string(body)
}

// expectClosed checks that the server closed the connection.
func expectClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := br.ReadByte(); err == nil {
		t.Errorf("connection still open: read %q", b)
	}
}

// echoBackend answers "METHOD PATH BODY" and counts requests.
func echoBackend(t *testing.T, id string) (Backend, *atomic.Int64) {
	var n atomic.Int64
	_, b := newBackend(t, id, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
	})
	return b, &n
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	b, _ := echoBackend(t, "echo")
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	c, br := dialFront(t, base)
	// Everything in one write: the server reads them from one buffer.
	io.WriteString(c, "GET /a?x=1 HTTP/1.1\r\nHost: web.test\r\n\r\n"+
		"HEAD /b HTTP/1.1\r\nHost: web.test\r\n\r\n"+
		"POST /c HTTP/1.1\r\nHost: web.test\r\nContent-Length: 3\r\n\r\nxyz"+
		"GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n"+
		"POST /unread HTTP/1.1\r\nHost: nowhere.test\r\nContent-Length: 5\r\n\r\nhello"+
		"PUT /e HTTP/1.1\r\nHost: web.test\r\nContent-Length: 0\r\n\r\n"+
		"GET /d HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n")
	want := []struct {
		method string
		status int
		body   string
	}{
		{"GET", 200, "GET /a?x=1 "},
		{"HEAD", 200, ""},
		{"POST", 200, "POST /c xyz"},
		{"GET", 404, `paved: no route for host "nowhere.test"` + "\n"},
		{"POST", 404, `paved: no route for host "nowhere.test"` + "\n"}, // body read and dropped
		{"PUT", 200, "PUT /e "},
		{"GET", 200, "GET /d "},
	}
	for i, w := range want {
		res, body := readResp(t, br, w.method)
		if res.StatusCode != w.status || body != w.body {
			t.Errorf("response %d: %d %q, want %d %q", i, res.StatusCode, body, w.status, w.body)
		}
	}
	expectClosed(t, c, br)
}

func TestSlowClientReadingPipelinedResponses(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	sum := sha256.Sum256(big)
	_, b := newBackend(t, "big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big)
	})
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	c, br := dialFront(t, base)
	const n = 8
	go func() {
		for range n {
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: web.test\r\n\r\n"); err != nil {
				return
			}
		}
	}()
	for i := range n {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		h := sha256.New()
		buf := make([]byte, 8<<10)
		for {
			time.Sleep(200 * time.Microsecond) // a slow reader: the server blocks on writes
			k, err := res.Body.Read(buf)
			h.Write(buf[:k])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("response %d body: %v", i, err)
			}
		}
		if !bytes.Equal(h.Sum(nil), sum[:]) {
			t.Fatalf("response %d: body differs", i)
		}
	}
}

func TestHTTP10KeepAliveRules(t *testing.T) {
	_, b := newBackend(t, "web", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "part 1, ")
			w.(http.Flusher).Flush() // no length: chunked to 1.1, close-delimited to 1.0
			io.WriteString(w, "part 2")
			return
		}
		io.WriteString(w, "hello")
	})
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	t.Run("no keep-alive", func(t *testing.T) {
		c, br := dialFront(t, base)
		io.WriteString(c, "GET / HTTP/1.0\r\nHost: web.test\r\n\r\n")
		res, body := readResp(t, br, "GET")
		if res.ProtoMinor != 0 || res.StatusCode != 200 || body != "hello" {
			t.Errorf("got HTTP/1.%d %d %q", res.ProtoMinor, res.StatusCode, body)
		}
		expectClosed(t, c, br)
	})
	t.Run("keep-alive", func(t *testing.T) {
		c, br := dialFront(t, base)
		for i := range 3 {
			io.WriteString(c, "GET / HTTP/1.0\r\nHost: web.test\r\nConnection: keep-alive\r\n\r\n")
			res, body := readResp(t, br, "GET")
			if res.StatusCode != 200 || body != "hello" || !strings.EqualFold(res.Header.Get("Connection"), "keep-alive") {
				t.Fatalf("request %d: %d %q, Connection %q", i, res.StatusCode, body, res.Header.Get("Connection"))
			}
		}
	})
	t.Run("unknown length", func(t *testing.T) {
		c, br := dialFront(t, base)
		io.WriteString(c, "GET /stream HTTP/1.0\r\nHost: web.test\r\nConnection: keep-alive\r\n\r\n")
		res, body := readResp(t, br, "GET")
		if res.StatusCode != 200 || body != "part 1, part 2" || len(res.TransferEncoding) != 0 {
			t.Errorf("got %d %q, transfer encoding %v", res.StatusCode, body, res.TransferEncoding)
		}
		expectClosed(t, c, br)
	})
}

func TestConnectionCloseHonoured(t *testing.T) {
	b, _ := echoBackend(t, "echo")
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	for _, path := range []string{"/", "/404"} {
		host := "web.test"
		if path == "/404" {
			host = "other.test"
		}
		c, br := dialFront(t, base)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
		res, _ := readResp(t, br, "GET")
		if !res.Close {
			t.Errorf("%s: response without Connection: close", path)
		}
		expectClosed(t, c, br)
	}
}

// TestRequestSmugglingRejected: heads that two HTTP parsers could read
// differently are answered 400 and never reach an instance.
func TestRequestSmugglingRejected(t *testing.T) {
	fastOnly(t)
	b, seen := echoBackend(t, "echo")
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	for name, head := range map[string]string{
		"CL and TE":           "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"TE and CL":           "POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"differing CLs":       "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		"CL list":             "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 3, 3\r\n\r\n",
		"signed CL":           "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: +3\r\n\r\n",
		"hex CL":              "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 0x3\r\n\r\n",
		"obs-fold":            "GET / HTTP/1.1\r\nHost: web.test\r\nX-A: a\r\n b\r\n\r\n",
		"space before colon":  "GET / HTTP/1.1\r\nHost: web.test\r\nContent-Length : 3\r\n\r\n",
		"space in name":       "GET / HTTP/1.1\r\nHost: web.test\r\nX A: b\r\n\r\n",
		"empty name":          "GET / HTTP/1.1\r\nHost: web.test\r\n: b\r\n\r\n",
		"no colon":            "GET / HTTP/1.1\r\nHost: web.test\r\nX-A\r\n\r\n",
		"control byte":        "GET / HTTP/1.1\r\nHost: web.test\r\nX-A: a\x01b\r\n\r\n",
		"bare CR":             "GET / HTTP/1.1\r\nHost: web.test\r\nX-A: a\rb\r\n\r\n",
		"NUL in name":         "GET / HTTP/1.1\r\nHost: web.test\r\nX-\x00: b\r\n\r\n",
		"two Hosts":           "GET / HTTP/1.1\r\nHost: web.test\r\nHost: evil.test\r\n\r\n",
		"bad Host":            "GET / HTTP/1.1\r\nHost: web.test/x\r\n\r\n",
		"no Host":             "GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
		"no version":          "GET /\r\nHost: web.test\r\n\r\n",
		"bad version":         "GET / HTTP/1.x\r\nHost: web.test\r\n\r\n",
		"double space":        "GET  / HTTP/1.1\r\nHost: web.test\r\n\r\n",
		"bad method":          "G(T / HTTP/1.1\r\nHost: web.test\r\n\r\n",
		"control in target":   "GET /a\x7fb HTTP/1.1\r\nHost: web.test\r\n\r\n",
		"bad escape":          "GET /a%zz HTTP/1.1\r\nHost: web.test\r\n\r\n",
		"truncated escape":    "GET /a%4 HTTP/1.1\r\nHost: web.test\r\n\r\n",
		"pipelined smuggling": "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\nGET /admin HTTP/1.1\r\nHost: web.test\r\n\r\n",
	} {
		c, br := dialFront(t, base)
		io.WriteString(c, head)
		res, body := readResp(t, br, "GET")
		if res.StatusCode != http.StatusBadRequest || !res.Close {
			t.Errorf("%s: %d (close %v) %q, want 400 and close", name, res.StatusCode, res.Close, body)
		}
		expectClosed(t, c, br)
	}
	if n := seen.Load(); n != 0 {
		t.Errorf("the instance got %d of the rejected requests", n)
	}

	// Identical repeated Content-Lengths are not ambiguous (net/http too).
	c, br := dialFront(t, base)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")
	if res, body := readResp(t, br, "POST"); res.StatusCode != 200 || body != "POST / abc" {
		t.Errorf("repeated identical Content-Length: %d %q", res.StatusCode, body)
	}
}

func TestRequestHeadLimits(t *testing.T) {
	fastOnly(t)
	var gotLen atomic.Int64
	_, b := newBackend(t, "web", func(w http.ResponseWriter, r *http.Request) {
		gotLen.Store(int64(len(r.Header.Get("X-Big"))))
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.URL.RequestURI(), body)
	})
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})

	// Heads longer than the read buffer are read out of it, up to 1 MiB.
	for _, size := range []int{3 << 10, 5 << 10, 100 << 10, 1 << 20} {
		c, br := dialFront(t, base)
		fmt.Fprintf(c, "POST /p?q=%d HTTP/1.1\r\nHost: web.test\r\nX-Big: %s\r\nContent-Length: 4\r\n\r\nbody", size, strings.Repeat("b", size))
		res, body := readResp(t, br, "POST")
		if want := fmt.Sprintf("/p?q=%d body", size); res.StatusCode != 200 || body != want || gotLen.Load() != int64(size) {
			t.Errorf("%d-byte header: %d %q, instance saw %d bytes; want 200 %q", size, res.StatusCode, body, gotLen.Load(), want)
		}
		// The connection is still in step: another request works.
		io.WriteString(c, "GET /next HTTP/1.1\r\nHost: web.test\r\n\r\n")
		if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "/next " {
			t.Errorf("after a %d-byte header: %d %q", size, res.StatusCode, body)
		}
	}

	// Beyond the limit: 431, as net/http.
	c, br := dialFront(t, base)
	go fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: web.test\r\nX-Big: %s\r\n\r\n", strings.Repeat("b", 1<<20+8<<10))
	res, _ := readResp(t, br, "GET")
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized head: %d, want 431", res.StatusCode)
	}

	// A configured limit below the buffer size.
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(r, 0, 0, 100)
	go srv.Serve(ln)
	defer srv.Close()
	c, br = dialFront(t, "http://"+ln.Addr().String())
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: web.test\r\nX-Big: %s\r\n\r\n", strings.Repeat("b", 4200))
	if res, _ := readResp(t, br, "GET"); res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("head over MaxHeaderBytes: %d, want 431", res.StatusCode)
	}
}

// TestFallbackHandOff: valid requests the fast path does not take go to
// net/http with the connection, which keeps serving it.
func TestFallbackHandOff(t *testing.T) {
	fastOnly(t)
	b, _ := echoBackend(t, "echo")
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	srv, base := newFastFront(t, r)
	for _, tc := range []struct {
		name, req, method string
		status            int
		body              string
	}{
		{"chunked body", "POST /c HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "POST", 200, "POST /c abcde"},
		{"expect 100-continue", "PUT /e HTTP/1.1\r\nHost: web.test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", "PUT", 200, "PUT /e hi"},
		{"absolute form", "GET http://web.test/abs HTTP/1.1\r\nHost: web.test\r\n\r\n", "GET", 200, "GET /abs "},
		{"odd path bytes", "GET /a\"b HTTP/1.1\r\nHost: web.test\r\n\r\n", "GET", 200, "GET /a%22b "},
		{"bare LF", "GET /lf HTTP/1.1\nHost: web.test\n\n", "GET", 200, "GET /lf "},
		{"HTTP/1.2", "GET /v HTTP/1.2\r\nHost: web.test\r\n\r\n", "GET", 200, "GET /v "},
		{"unsupported version", "GET / HTTP/2.5\r\nHost: web.test\r\n\r\n", "GET", http.StatusHTTPVersionNotSupported, ""},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: gzip\r\n\r\n", "POST", http.StatusNotImplemented, ""},
	} {
		before := srv.handoffs.Load()
		c, br := dialFront(t, base)
		io.WriteString(c, tc.req)
		res, body := readResp(t, br, tc.method)
		if res.StatusCode != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, res.StatusCode, body, tc.status, tc.body)
		}
		if srv.handoffs.Load() != before+1 {
			t.Errorf("%s: not handed over to net/http", tc.name)
		}
		if res.Close {
			// Only the two refusals close; a hand-off that closed a
			// connection it answered 200 would skip the check below.
			if tc.status == http.StatusOK {
				t.Errorf("%s: the connection was closed after the hand-off; want it kept open", tc.name)
			}
			continue
		}
		// net/http keeps serving the connection.
		io.WriteString(c, "GET /after HTTP/1.1\r\nHost: web.test\r\n\r\n")
		if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "GET /after " {
			t.Errorf("%s: next request %d %q", tc.name, res.StatusCode, body)
		}
	}

	// The HTTP/2 preface gets net/http's answer, not a hang.
	c, br := dialFront(t, base)
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil { // dialFront's deadline ends a hang here
		t.Fatalf("HTTP/2 preface: no answer: %v", err)
	}
	if res.StatusCode < 400 {
		t.Errorf("HTTP/2 preface: %d, want an error status", res.StatusCode)
	}
}

// TestPlainResponseHeadRelayed checks the raw relay of a plain response:
// what the router replaces, drops and adds.
func TestPlainResponseHeadRelayed(t *testing.T) {
	b := newRawBackend(t, "raw", func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			switch req.URL.Path {
			case "/204":
				io.WriteString(c, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nx-custom: a\r\n\r\n")
			default:
				io.WriteString(c, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nX-Paved-Instance: spoofed\r\n"+
					"Keep-Alive: timeout=5\r\nConnection: keep-alive\r\nX-Multi: 1\r\nx-multi: 2\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	_, base := newFront(t, Options{}, Route{Host: "web.test", App: "s/web", Backends: []Backend{b}})
	res := do(t, base, "GET", "web.test", "/", nil)
	h := res.header
	if res.status != 200 || res.body != "ok" || h.Get("Content-Type") != "text/plain" || h.Get("Date") == "" ||
		strings.Join(h.Values(InstanceHeader), ",") != "raw" || h.Get("Keep-Alive") != "" ||
		strings.Join(h.Values("X-Multi"), ",") != "1,2" {
		t.Errorf("got %d %q with header %v", res.status, res.body, h)
	}
	res = do(t, base, "GET", "web.test", "/204", nil)
	if res.status != 204 || res.header.Get("X-Custom") != "a" || res.header.Get("Content-Length") != "" {
		t.Errorf("204: %d with header %v", res.status, res.header)
	}
}

func TestIdleAndHeaderTimeouts(t *testing.T) {
	fastOnly(t)
	b, _ := echoBackend(t, "echo")
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{b}}})
	defer r.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(r, 300*time.Millisecond, 200*time.Millisecond, 0)
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	// An idle keep-alive connection is closed after IdleTimeout.
	c, br := dialFront(t, base)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: web.test\r\n\r\n")
	readResp(t, br, "GET")
	start := time.Now()
	expectClosed(t, c, br)
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("idle connection closed after %v, want about 200ms", d)
	}

	// A head that does not complete is cut off after ReadHeaderTimeout.
	c, br = dialFront(t, base)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: web.t")
	start = time.Now()
	expectClosed(t, c, br)
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("incomplete head cut off after %v, want about 300ms", d)
	}

	// A connection that never sends anything is the same.
	c, br = dialFront(t, base)
	start = time.Now()
	expectClosed(t, c, br)
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("silent connection closed after %v, want about 300ms", d)
	}

	// A request that waits for its instance longer than both is served.
	_, slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(700 * time.Millisecond)
		io.WriteString(w, "late")
	})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{slow}}})
	c, br = dialFront(t, base)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: web.test\r\n\r\n")
	if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "late" {
		t.Errorf("slow request: %d %q", res.StatusCode, body)
	}
}

func TestShutdownWaitsForInFlightRequests(t *testing.T) {
	fastOnly(t)
	bs, entered, release := slowBackends(t, "slow")
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: bs}})
	defer r.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(r, 10*time.Second, 90*time.Second, 0)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	idle, idleBr := dialFront(t, base)
	io.WriteString(idle, "GET /fast HTTP/1.1\r\nHost: web.test\r\n\r\n")
	readResp(t, idleBr, "GET")

	busy, busyBr := dialFront(t, base)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: web.test\r\n\r\n")
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	expectClosed(t, idle, idleBr) // idle connections go at once
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("still accepting connections during shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	res, body := readResp(t, busyBr, "GET")
	if res.StatusCode != 200 || body != "ok" || !res.Close {
		t.Errorf("in-flight request: %d %q close=%v, want 200 with Connection: close", res.StatusCode, body, res.Close)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last request")
	}
	expectClosed(t, busy, busyBr)
}

func TestShutdownDeadline(t *testing.T) {
	fastOnly(t)
	bs, entered, _ := slowBackends(t, "slow")
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: bs}})
	defer r.Close()
	srv, base := newFastFront(t, r)
	c, _ := dialFront(t, base)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: web.test\r\n\r\n")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's error", err)
	}
}

// TestWatcherKeepsPipelinedRequest: a request pipelined while the previous
// one waits for a slow instance is read by the client watch and must still
// be served.
func TestWatcherKeepsPipelinedRequest(t *testing.T) {
	b, _ := echoBackend(t, "echo")
	_, slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // several watchdog ticks
		io.WriteString(w, "slow")
	})
	_, base := newFront(t, Options{},
		Route{Host: "web.test", App: "s/web", Backends: []Backend{b}},
		Route{Host: "web.test", Path: "/slow", App: "s/slow", Backends: []Backend{slow}})
	c, br := dialFront(t, base)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: web.test\r\n\r\n")
	time.Sleep(150 * time.Millisecond) // the watch has started
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: web.test\r\n\r\n")
	if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "slow" {
		t.Errorf("slow: %d %q", res.StatusCode, body)
	}
	if res, body := readResp(t, br, "GET"); res.StatusCode != 200 || body != "GET /next " {
		t.Errorf("pipelined: %d %q", res.StatusCode, body)
	}
}

// TestParseRequestHead covers the parser's verdicts.
func TestParseRequestHead(t *testing.T) {
	for _, tc := range []struct {
		head       string
		act, code  int
		wantsClose bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", actServe, 0, false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", actServe, 0, true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, X-A\r\n\r\n", actServe, 0, false},
		{"GET / HTTP/1.0\r\n\r\n", actServe, 0, true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", actServe, 0, false},
		{"DELETE /a/b;c=d/%2F?x=%zz HTTP/1.1\r\nHost: a\r\n\r\n", actServe, 0, false},
		{"PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n", actServe, 0, false},
		// Refused as net/http (Go 1.22 and later) refuses them: an empty
		// Content-Length, and two spellings of one length.
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", actDone, 400, true},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\nabc", actDone, 400, true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", actHandOff, 0, false},
		{"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", actHandOff, 0, false},
		{"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", actHandOff, 0, false},
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", actHandOff, 0, false},
		{"GET /é HTTP/1.1\r\nHost: a\r\n\r\n", actHandOff, 0, false},
		{"PRI * HTTP/2.0\r\n\r\n", actHandOff, 0, false},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", actDone, 400, false},
		{"GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", actDone, 400, false},
	} {
		var q h1Request
		act, code, _ := q.parse([]byte(tc.head))
		if act != tc.act || code != tc.code || (act == actServe && q.wantsClose != tc.wantsClose) {
			t.Errorf("%q: act %d code %d close %v, want %d %d %v", tc.head, act, code, q.wantsClose, tc.act, tc.code, tc.wantsClose)
		}
	}
}
