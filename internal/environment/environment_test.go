package environment

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Droplets no release refers to are removed once old enough; referenced
// and young ones stay.
func TestCollectDroplets(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.CreateSpace(ctx, "t", paved.SpaceSpec{Name: "s"})
	st.CreateApp(ctx, "t", "s", paved.AppSpec{Name: "web", Command: "x", Instances: 1})
	st.CreateRelease(ctx, "t", "s", "web", paved.ReleaseConfig{Droplet: "used"})
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{"used", "orphan", "young"} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		if name != "young" {
			os.Chtimes(filepath.Join(dir, name), old, old)
		}
	}
	m := &Manager{Store: st, DropletsDir: dir}
	if n := m.collectDroplets(ctx); n != 1 {
		t.Fatalf("removed %d droplets, want 1", n)
	}
	for name, want := range map[string]bool{"used": true, "orphan": false, "young": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("droplet %s present = %v, want %v", name, err == nil, want)
		}
	}
}
