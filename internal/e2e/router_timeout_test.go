package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestRouterResponseTimeout: with --router-response-timeout, a request an
// instance does not start answering in time gets a 504 naming the limit
// (and the instance keeps serving); one answered in time passes.
func TestRouterResponseTimeout(t *testing.T) {
	c := startCell(t, "--router-response-timeout", "1s")
	c.pushHello("shop", "web", "web.test", 1)
	resp, body, err := c.get(httpClient(), "web.test", "/slow?ms=100")
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, "answered after 100 ms") {
		t.Fatalf("a request answered in time: %v %v %q", resp, err, body)
	}
	resp, body, err = c.get(httpClient(), "web.test", "/slow?ms=5000")
	if err != nil || resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, `app "shop/web" did not start answering within 1s`) {
		t.Fatalf("a request the instance holds past the limit: %v %v %q, want 504 naming the limit", resp, err, body)
	}
	if resp, _, err := c.get(httpClient(), "web.test", "/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the instance after a timed-out request: %v %v", resp, err)
	}
}
