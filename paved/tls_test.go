package paved_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// A cell behind TLS with a certificate no system root signed: trusted with
// CACert, refused without it, reachable with Insecure.
func TestTLSTrust(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok","region":"tls"}`))
	}))
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	health := func(cfg paved.Config) error {
		cfg.Endpoint, cfg.MaxRetries = srv.URL, -1
		c, err := paved.NewClient(cfg)
		if err != nil {
			return err
		}
		_, err = c.Health(context.Background())
		return err
	}
	t.Setenv("PAVED_CA_CERT", "")
	t.Setenv("PAVED_INSECURE", "")
	if err := health(paved.Config{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate was accepted: %v", err)
	}
	if err := health(paved.Config{CACert: caPEM}); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if err := health(paved.Config{Insecure: true}); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if _, err := paved.NewClient(paved.Config{Endpoint: srv.URL, CACert: []byte("not pem")}); err == nil {
		t.Fatal("a CA that is not PEM was accepted")
	}
}
