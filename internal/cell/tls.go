package cell

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// cellTLS is the certificate both listeners present (paved server
// --tls-cert/--tls-key). It sits behind an atomic pointer so Reload (on
// SIGHUP) can swap in a renewed certificate without a restart; connections
// already open keep the one they were handshaken with.
type cellTLS struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// validateTLS checks the TLS flags that need no file: both or neither.
func validateTLS(cfg Config) error {
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both (HTTPS on the API and the router) or neither (plain HTTP)")
	}
	return nil
}

// newCellTLS loads the key pair, or returns nil for a plain-HTTP cell.
func newCellTLS(cfg Config) (*cellTLS, error) {
	if err := validateTLS(cfg); err != nil {
		return nil, err
	}
	if cfg.TLSCert == "" {
		return nil, nil
	}
	t := &cellTLS{certFile: cfg.TLSCert, keyFile: cfg.TLSKey}
	if err := t.load(); err != nil {
		return nil, err
	}
	return t, nil
}

// load reads the key pair and makes it current. Errors name the flag, so
// that a typo or a key of another certificate is clear at once.
func (t *cellTLS) load() error {
	certPEM, err := os.ReadFile(t.certFile)
	if err != nil {
		return fmt.Errorf("read --tls-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(t.keyFile)
	if err != nil {
		return fmt.Errorf("read --tls-key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("--tls-cert %s / --tls-key %s: %w", t.certFile, t.keyFile, err)
	}
	// X509KeyPair parses the leaf (Go 1.23+); parse it here regardless, the
	// self-client pins it.
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("--tls-cert %s: %w", t.certFile, err)
		}
	}
	t.cert.Store(&cert)
	return nil
}

// serverConfig is the listeners' configuration: TLS 1.2 at least and
// HTTP/1.1 only (neither the API server nor the router's fast server is set
// up for h2, so ALPN must not offer it).
func (t *cellTLS) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return t.cert.Load(), nil
		},
	}
}

// selfClient is the HTTP client the cell uses on its own listeners (the
// pipeline engine's API client, pipeline asserts through the router). It
// pins the cell's current certificate rather than checking a name: the
// cell dials its bound address, which may be 0.0.0.0 or an IP the
// certificate does not list, and no one but the cell holds the key.
func (t *cellTLS) selfClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the cell's own loopback listeners; never through a proxy
	tr.ForceAttemptHTTP2 = false
	tr.TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is VerifyConnection's exact match, stricter than a
		// chain to a CA.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			cur := t.cert.Load()
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, cur.Certificate[0]) {
				return errors.New("paved: the listener did not present this cell's own certificate")
			}
			return nil
		},
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// peerTLS is the client configuration for peer routers that speak TLS:
// the system roots plus --peer-ca-cert, or, without it, every certificate
// of the cell's own --tls-cert file, so that cells whose certificate files
// carry their shared CA (or share one certificate) trust each other with no
// further flag.
func peerTLS(cfg Config) (*tls.Config, error) {
	var pemBytes []byte
	var from string
	switch {
	case cfg.PeerCACert != "":
		b, err := os.ReadFile(cfg.PeerCACert)
		if err != nil {
			return nil, fmt.Errorf("read --peer-ca-cert: %w", err)
		}
		pemBytes, from = b, "--peer-ca-cert "+cfg.PeerCACert
	case cfg.TLSCert != "":
		b, err := os.ReadFile(cfg.TLSCert)
		if err != nil {
			return nil, fmt.Errorf("read --tls-cert: %w", err)
		}
		pemBytes, from = b, "--tls-cert "+cfg.TLSCert
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if len(pemBytes) > 0 && !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", from)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}

// ReloadTLS re-reads --tls-cert and --tls-key (paved server does on
// SIGHUP). On an error the certificate in use stays. A plain-HTTP cell has
// nothing to reload.
func (c *Cell) ReloadTLS() error {
	if c.tls == nil {
		return errors.New("the cell runs without TLS: nothing to reload")
	}
	return c.tls.load()
}

// TLS reports whether the listeners speak HTTPS.
func (c *Cell) TLS() bool { return c.tls != nil }

// Scheme is "https" for a TLS cell, else "http".
func (c *Cell) Scheme() string {
	if c.tls != nil {
		return "https"
	}
	return "http"
}
