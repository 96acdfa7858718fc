package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestOutOfMemoryAndForkBomb: an app that allocates past memory_mb is
// killed by the kernel, restarted with backoff, and says why in app show
// and the events; a fork bomb in another app stays inside its instance,
// and the cell and a third app keep serving throughout.
func TestOutOfMemoryAndForkBomb(t *testing.T) {
	c := startCell(t)
	ctx := context.Background()
	h, err := c.client.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Isolation.Memory == "" || (!h.Isolation.PidsLimit && h.Isolation.Enabled) {
		t.Fatalf("the cell enforces no memory or pids limits here: %+v", h.Isolation)
	}
	c.pushHello("web", "steady", "steady.test", 1)

	// The hog grows past 32 MiB as soon as it starts; the bomb forks for
	// ever. Neither ever becomes healthy, so they are pushed without
	// waiting, with a process health check.
	for _, app := range []struct{ space, name, command string }{
		{"hogs", "hog", `awk 'BEGIN { s = "x"; while (1) s = s s }'`},
		{"bombs", "bomb", `while :; do sleep 60 & done`},
	} {
		c.paved("space", "create", app.space)
		c.mustPaved("push", helloDir(t), "--space", app.space, "--app", app.name, "--memory", "32",
			"--command", app.command, "--health-type", "process", "--no-wait")
	}
	var last string
	eventually(t, 60*time.Second, "the hog to be killed for memory, twice", func() error {
		v := c.appShow("hogs", "hog")
		for _, in := range v.Instances {
			last = in.LastExit
			if in.Crashes >= 2 && strings.HasPrefix(in.LastExit, "out of memory (limit 32 MiB): ") {
				return nil
			}
		}
		return fmt.Errorf("instances %+v", v.Instances)
	})
	events, err := c.client.Events.List(ctx, paved.ListEventsOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var said bool
	for _, e := range events {
		said = said || strings.Contains(e.Detail, "out of memory (limit 32 MiB)")
	}
	if !said {
		t.Errorf("no event says the hog ran out of memory (its last exit: %q)", last)
	}

	// The bomb has had time to hit its limit; the cell and the steady app
	// still answer.
	eventually(t, 30*time.Second, "the bomb to run", func() error {
		for _, in := range c.appShow("bombs", "bomb").Instances {
			if in.PID > 0 {
				return nil
			}
		}
		return fmt.Errorf("no bomb instance runs")
	})
	time.Sleep(3 * time.Second)
	if res, body, err := c.get(httpClient(), "steady.test", "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("the steady app while the bomb runs: %v %v %q", err, res, body)
	}
	if _, err := c.client.Health(ctx); err != nil {
		t.Errorf("the cell's API while the bomb runs: %v", err)
	}
}
