package testcell

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// A cell that cannot bind its port exits at once; Start says so (with
// the cell's own words) instead of waiting out its 20 s, and marks it as
// an address in use, which Launch answers with new ports.
func TestStartReportsAnEarlyExit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cell")
	}
	c := StartWith(t, Options{})
	c.Kill9()
	ln, err := net.Listen("tcp", strings.TrimPrefix(c.Endpoint, "http://"))
	if err != nil {
		t.Skipf("could not take the cell's port after its kill: %v", err)
	}
	defer ln.Close()
	start := time.Now()
	err = c.Start()
	if err == nil {
		t.Fatal("the cell started on a port another process holds")
	}
	if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), "exited before it answered") {
		t.Fatalf("Start: %v, want an early exit marked as an address in use", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Start took %v to notice the exit", d)
	}
	ln.Close()
	if err := c.Start(); err != nil { // the port is free again: the same cell comes back
		t.Fatalf("restart on the freed port: %v", err)
	}
}
