package router

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// testTLS is a CA and a certificate it signed for 127.0.0.1, as a TLS
// cell has them.
type testTLS struct {
	cert tls.Certificate
	pool *x509.CertPool // trusts the CA
}

func newTestTLS(t testing.TB) testTLS {
	t.Helper()
	files, err := testcell.WriteTLSFiles(filepath.Join(t.TempDir(), "tls"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(files.CAPEM)
	return testTLS{cert: cert, pool: pool}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// newTLSFront serves r over TLS with the front end of this pass, the way
// the cell wraps its router listener, and returns its https URL, its
// server when it is the fast one, and the accept counter.
func newTLSFront(t testing.TB, r *Router, tt testTLS) (string, *Server, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	tln := tls.NewListener(cl, &tls.Config{Certificates: []tls.Certificate{tt.cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	var fast *Server
	var srv interface {
		Serve(net.Listener) error
		Close() error
	}
	if frontEnd == "fast" {
		fast = &Server{Router: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second}
		srv = fast
	} else {
		srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	}
	go srv.Serve(tln)
	t.Cleanup(func() {
		srv.Close()
		r.Close()
	})
	return "https://" + ln.Addr().String(), fast, cl
}

func tlsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 4, DisableCompression: true}}
}

// echoProto is an instance that answers with the path and the scheme the
// router says the client used.
func echoProto(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slow" {
		time.Sleep(300 * time.Millisecond) // long enough for the fast server to watch the client
	}
	b, _ := io.ReadAll(r.Body)
	io.WriteString(w, r.URL.Path+" proto="+r.Header.Get("X-Forwarded-Proto")+" body="+string(b))
}

// The router behind a TLS listener: both front ends serve HTTPS with
// keep-alive, tell the instance the client used https, and refuse plain
// HTTP with a 400. The fast server serves TLS connections on its own path,
// and hands the rest to net/http with the TLS state.
func TestRouterServesTLS(t *testing.T) {
	tt := newTestTLS(t)
	_, inst := newBackend(t, "i-1", echoProto)
	r := New(Options{})
	r.Update([]Route{{Host: "web.test", App: "s/web", Backends: []Backend{inst}}})
	base, fast, accepts := newTLSFront(t, r, tt)
	client := tlsClient(tt.pool)
	send := func(method, path string, body io.Reader) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, body)
		req.Host = "web.test"
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.TLS == nil {
			t.Fatalf("%s %s: answered without TLS", method, path)
		}
		return res.StatusCode, string(b)
	}
	for i := range 5 {
		if code, body := send("GET", "/a", nil); code != 200 || body != "/a proto=https body=" {
			t.Fatalf("GET #%d: %d %q", i, code, body)
		}
	}
	if code, body := send("POST", "/p", strings.NewReader("donation")); code != 200 || body != "/p proto=https body=donation" {
		t.Fatalf("POST: %d %q", code, body)
	}
	// Slow enough that the fast server's watcher reads the client under
	// TLS; the connection must survive the watcher's stop.
	if code, body := send("GET", "/slow", nil); code != 200 || body != "/slow proto=https body=" {
		t.Fatalf("slow GET: %d %q", code, body)
	}
	if code, body := send("GET", "/after-slow", nil); code != 200 || body != "/after-slow proto=https body=" {
		t.Fatalf("GET after the slow one: %d %q", code, body)
	}
	if n := accepts.n.Load(); n != 1 {
		t.Fatalf("%d connections for sequential requests, want 1 (keep-alive under TLS)", n)
	}
	if fast != nil && fast.handoffs.Load() != 0 {
		t.Fatalf("%d hand-overs of plain requests: the fast path should serve TLS itself", fast.handoffs.Load())
	}

	// A chunked body is for net/http, which must still see TLS.
	if code, body := send("POST", "/chunked", io.MultiReader(strings.NewReader("stream"))); code != 200 || body != "/chunked proto=https body=stream" {
		t.Fatalf("chunked POST: %d %q", code, body)
	}
	if fast != nil && fast.handoffs.Load() != 1 {
		t.Fatalf("%d hand-overs, want 1 (the chunked request)", fast.handoffs.Load())
	}

	// Plain HTTP on the TLS port: a 400 that says why.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: web.test\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("plain HTTP on the TLS port: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 400 || !strings.Contains(string(b), "HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP on the TLS port: %d %q", res.StatusCode, b)
	}

	// A client that does not trust the CA is refused at the handshake.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusting client: %v, want a certificate error", err)
	}
}

// A global host forwards to a peer router that speaks TLS: the handshake
// verifies the peer against Options.PeerTLS, the connection is kept alive,
// and a peer it cannot verify counts as a failed connect (502 once no
// other peer is left).
func TestGlobalHostForwardsToTLSPeer(t *testing.T) {
	tt := newTestTLS(t)
	_, usInst := newBackend(t, "us-1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served in us, hop="+r.Header.Get(paved.HopHeader)+", proto="+r.Header.Get("X-Forwarded-Proto"))
	})
	us := New(Options{Region: "us"})
	us.Update([]Route{{Host: "donate.test", App: "s/donate", Backends: []Backend{usInst}, Global: true}})
	usURL, _, accepts := newTLSFront(t, us, tt)
	usAddr := strings.TrimPrefix(usURL, "https://")

	peerRoute := []Route{{Host: "donate.test", App: "s/donate", Global: true, Peers: []Backend{{ID: "peer/us", Addr: usAddr, TLS: true}}}}
	_, euURL := newFront(t, Options{Region: "eu", PeerTLS: &tls.Config{RootCAs: tt.pool}}, peerRoute...)
	for _, method := range []string{"GET", "POST", "GET", "GET"} {
		res := do(t, euURL, method, "donate.test", "/", strings.NewReader("{}"))
		if res.status != 200 || res.body != "served in us, hop=eu, proto=https" {
			t.Fatalf("%s: %d %q, want the TLS peer's instance", method, res.status, res.body)
		}
		if got := res.header.Get(paved.RegionHeader); got != "us" {
			t.Fatalf("%s = %q, want us", paved.RegionHeader, got)
		}
	}
	if n := accepts.n.Load(); n != 1 {
		t.Fatalf("%d TLS connections to the peer for 4 sequential requests, want 1 (pooled)", n)
	}

	// Without the CA (system roots only) the peer cannot be verified.
	untrusting, euURL2 := newFront(t, Options{Region: "eu"}, peerRoute...)
	res := do(t, euURL2, "GET", "donate.test", "/", nil)
	if res.status != http.StatusBadGateway {
		t.Fatalf("unverifiable peer: %d %q, want 502", res.status, res.body)
	}
	if st := untrusting.Stats("peer/us"); st.FailedConnects != 1 {
		t.Fatalf("unverifiable peer: %+v, want one failed connect", st)
	}
}

// The fast server bounds a TLS handshake by ReadHeaderTimeout, as it
// bounds a request head: a client that connects and says nothing is
// closed.
func TestFastServerTLSHandshakeTimeout(t *testing.T) {
	fastOnly(t)
	tt := newTestTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Router: New(Options{}), ReadHeaderTimeout: 200 * time.Millisecond}
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{tt.cert}}))
	t.Cleanup(func() { srv.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("silent client: read %d, %v; want the server to close the connection", n, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closed after %s, want about the 200ms header timeout", took)
	}
}
