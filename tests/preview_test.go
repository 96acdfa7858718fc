package tests

import (
	"net/url"
	"testing"
	"time"
)

// TestPreview applies examples/preview to its own cell: the space's app and
// the preview's clone must both answer, each with its own greeting.
func TestPreview(t *testing.T) {
	t.Parallel()
	runExample(t, "preview", map[string]any{"space": "shop", "preview": "pr-7"}, func(r *exampleRun) {
		r.get(r.output("production_host"), "/", "hello from shop", time.Minute)
		urls := map[string]string{}
		terraformOutputMap(r, "preview_urls", urls)
		u, err := url.Parse(urls["web"])
		if err != nil || u.Host == "" {
			t.Fatalf("preview_urls[web] = %q, want a URL", urls["web"])
		}
		r.get(u.Host, "/", "hello from pr-7", time.Minute)
	})
}
