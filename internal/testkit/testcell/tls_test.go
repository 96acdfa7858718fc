package testcell

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// Options.TLS starts an HTTPS cell whose Client, HTTPClient and RouterURL
// work as they are.
func TestTLSCell(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a paved server process")
	}
	c := StartWith(t, Options{TLS: true})
	if !strings.HasPrefix(c.Endpoint, "https://") || !strings.HasPrefix(c.RouterURL(), "https://") || len(c.CACert) == 0 {
		t.Fatalf("cell %+v: want https URLs and a CA", c)
	}
	h, err := c.Client.Health(context.Background())
	if err != nil || !h.TLS {
		t.Fatalf("health: %+v %v", h, err)
	}
	req, _ := http.NewRequest(http.MethodGet, c.RouterURL()+"/", nil)
	req.Host = "nothing.test"
	res, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || res.TLS == nil {
		t.Fatalf("router: %d (tls %v), want a 404 over TLS", res.StatusCode, res.TLS != nil)
	}
}
