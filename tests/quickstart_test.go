package tests

import (
	"context"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
)

// TestQuickstart applies examples/quickstart to its own cell, checks the app
// answers through the router, rolls a new greeting out, and destroys it.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	runExample(t, "quickstart", map[string]any{"space": "quickstart"}, func(r *exampleRun) {
		host := r.output("host")
		r.get(host, "/", "hello from paved", time.Minute)
		r.opts.Vars["greeting"] = "hello again"
		terraform.ApplyContext(t, context.Background(), r.opts)
		r.get(host, "/", "hello again", time.Minute)
	})
}
