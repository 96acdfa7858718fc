package cell

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Bad TLS flags stop the cell before it touches its data dir, with an
// error that names the flag.
func TestStartRejectsBadTLSFlags(t *testing.T) {
	dir := t.TempDir()
	a, err := testcell.WriteTLSFiles(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := testcell.WriteTLSFiles(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for _, tc := range []struct {
		name      string
		cert, key string
		peerCA    string
		want      string
	}{
		{"cert without key", a.Cert, "", "", "--tls-cert and --tls-key go together"},
		{"key without cert", "", a.Key, "", "--tls-cert and --tls-key go together"},
		{"missing cert", filepath.Join(dir, "nope.pem"), a.Key, "", "read --tls-cert"},
		{"missing key", a.Cert, filepath.Join(dir, "nope.pem"), "", "read --tls-key"},
		{"key of another certificate", a.Cert, b.Key, "", "private key does not match public key"},
		{"cert not PEM", notPEM, a.Key, "", "--tls-cert"},
		{"peer CA not PEM", a.Cert, a.Key, notPEM, "--peer-ca-cert " + notPEM + " holds no PEM certificate"},
		{"peer CA missing", "", "", filepath.Join(dir, "nope.pem"), "read --peer-ca-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			c, err := Start(Config{DataDir: data, APIAddr: "127.0.0.1:0", RouterAddr: "127.0.0.1:0", Token: "t",
				TLSCert: tc.cert, TLSKey: tc.key, PeerCACert: tc.peerCA})
			if err == nil {
				c.Shutdown(context.Background())
				t.Fatal("the cell started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
			if _, serr := os.Stat(data); !os.IsNotExist(serr) {
				t.Fatalf("the data dir was created before the flags were checked: %v", serr)
			}
		})
	}
}

// A TLS cell serves HTTPS only on both listeners, says so in its health,
// reaches itself through the pinned self-client, and picks up a new
// certificate on ReloadTLS.
func TestTLSCell(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcell.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	files, err := ca.WriteFiles(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(Config{DataDir: filepath.Join(dir, "data"), APIAddr: "127.0.0.1:0", RouterAddr: "127.0.0.1:0",
		Token: "t", TLSCert: files.Cert, TLSKey: files.Key, StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown(context.Background()) })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(files.CAPEM)
	trusting := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	res, err := trusting.Get("https://" + c.APIAddr() + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	var h paved.CellHealth
	json.NewDecoder(res.Body).Decode(&h)
	res.Body.Close()
	if !h.TLS || h.RouterAddr != c.RouterAddr() {
		t.Fatalf("health: tls %v, router %q; want tls and %q", h.TLS, h.RouterAddr, c.RouterAddr())
	}
	if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 || res.TLS.NegotiatedProtocol == "h2" {
		t.Fatalf("connection state %+v: want TLS ≥ 1.2 and HTTP/1.1", res.TLS)
	}
	// The router over HTTPS: no app, so its own 404 (from the fast server
	// or its net/http hand-off, whichever serves TLS).
	req, _ := http.NewRequest(http.MethodGet, "https://"+c.RouterAddr()+"/", nil)
	req.Host = "nothing.test"
	res, err = trusting.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no route for host") {
		t.Fatalf("router over https: %d %s", res.StatusCode, body)
	}

	// Plain HTTP gets no service on either listener: the TLS server sees
	// an HTTP request instead of a ClientHello and answers 400.
	for name, addr := range map[string]string{"api": c.APIAddr(), "router": c.RouterAddr()} {
		res, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/v1/health")
		if err != nil { // a reset, or no answer at all (a hang)
			t.Fatalf("plain HTTP to the %s: %v, want a 400 answer", name, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
			t.Fatalf("plain HTTP to the %s: %d %s, want 400", name, res.StatusCode, body)
		}
	}

	// The self-client pins the cell's own certificate ...
	self := c.tls.selfClient()
	if res, err := self.Get("https://" + c.APIAddr() + "/v1/health"); err != nil {
		t.Fatalf("self-client: %v", err)
	} else {
		res.Body.Close()
	}
	// ... and nobody else's, even one from the same CA.
	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	otherFiles, err := ca.WriteFiles(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	otherCert, err := tls.LoadX509KeyPair(otherFiles.Cert, otherFiles.Key)
	if err != nil {
		t.Fatal(err)
	}
	other.TLS = &tls.Config{Certificates: []tls.Certificate{otherCert}}
	other.StartTLS()
	defer other.Close()
	if _, err := self.Get(other.URL); err == nil || !strings.Contains(err.Error(), "own certificate") {
		t.Fatalf("self-client to another server: %v, want a refusal", err)
	}

	// ReloadTLS: new connections get the new certificate.
	serial := func() string {
		conn, err := tls.Dial("tcp", c.APIAddr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	if _, err := ca.WriteFiles(filepath.Join(dir, "tls")); err != nil {
		t.Fatal(err)
	}
	if err := c.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if after := serial(); after == before {
		t.Fatalf("the certificate did not change on reload (serial %s)", after)
	}
	// A broken pair is refused and the current certificate kept.
	os.WriteFile(files.Key, []byte("garbage"), 0o600)
	if err := c.ReloadTLS(); err == nil {
		t.Fatal("a broken key was accepted")
	}
	if _, err := self.Get("https://" + c.APIAddr() + "/v1/health"); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

// A plain cell is unchanged: http, and health without tls.
func TestPlainCellHealth(t *testing.T) {
	c, err := Start(Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", RouterAddr: "127.0.0.1:0", Token: "t", StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	if c.Scheme() != "http" || c.TLS() {
		t.Fatalf("scheme %q", c.Scheme())
	}
	res, err := http.Get("http://" + c.APIAddr() + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if bytes.Contains(b, []byte(`"tls"`)) {
		t.Fatalf("a plain cell's health mentions tls: %s", b)
	}
}
