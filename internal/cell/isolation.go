package cell

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
	"github.com/pavedroad/terraform-provider-paved/internal/sandbox"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Isolation modes (paved server --isolation).
const (
	IsolationAuto     = "auto"     // isolate when the host can, say why not otherwise
	IsolationRequired = "required" // refuse to start without isolation
	IsolationNone     = "none"     // run everything as the cell's own processes
)

// Default range of space uids: far above any uid of a person or a daemon.
const (
	DefaultUIDBase  = 200000
	DefaultUIDCount = 100000
)

// isolation decides, for real, whether this cell isolates apps, builds and
// tasks, and returns the pieces that do it: nil ones when it does not. The
// reason says why not (auto) in one sentence.
func (c *Cell) isolation() (*sandbox.Jail, *runtime.Isolation, string, error) {
	mode := c.cfg.Isolation
	if mode == "" {
		mode = IsolationAuto
	}
	switch mode {
	case IsolationNone:
		return nil, nil, "--isolation none: apps, builds and pipeline tasks run as the cell's own user and see its files", nil
	case IsolationAuto, IsolationRequired:
	default:
		return nil, nil, "", fmt.Errorf("--isolation %q: use auto, required or none", mode)
	}
	if c.cfg.UIDBase == 0 {
		c.cfg.UIDBase = DefaultUIDBase
	}
	if c.cfg.UIDCount == 0 {
		c.cfg.UIDCount = DefaultUIDCount
	}
	if c.cfg.UIDBase < 0 || c.cfg.UIDCount < 0 {
		return nil, nil, "", fmt.Errorf("--isolation-uid-base %d and --isolation-uid-count %d must be above 0", c.cfg.UIDBase, c.cfg.UIDCount)
	}
	if err := sandbox.Probe(context.Background()); err != nil {
		if mode == IsolationRequired {
			return nil, nil, "", fmt.Errorf("--isolation required, but this host cannot isolate: %w", err)
		}
		return nil, nil, "isolation is off: " + err.Error(), nil
	}
	hide := c.hiddenPaths()
	jail := &sandbox.Jail{
		Isolate: true, Hide: hide, HomesDir: filepath.Join(c.cfg.DataDir, "homes"),
		SpaceUID: c.spaceUID, GoCache: goBuildCache(),
	}
	return jail, &runtime.Isolation{Hide: hide}, "", nil
}

// spaceUID is the uid of a space, from the cell's configured range.
func (c *Cell) spaceUID(ctx context.Context, space string) (int, error) {
	return c.store.SpaceUID(ctx, space, c.cfg.UIDBase, c.cfg.UIDCount)
}

// hiddenPaths are the cell's files a sandbox must not see: its data dir
// (the database, other apps' droplets, token and key files) and every file
// the cell was pointed at outside it.
func (c *Cell) hiddenPaths() []string {
	var paths []string
	for _, f := range []string{c.cfg.DataDir, c.cfg.TokenFile, c.cfg.SecretsKeyFile, c.cfg.TLSKey, c.cfg.TLSCert, c.cfg.PeerCACert} {
		if f == "" {
			continue
		}
		if abs, err := filepath.Abs(f); err == nil {
			paths = append(paths, abs)
		}
	}
	return paths
}

// isolatedUID is the deployer's SpaceUID: nil when instances are not
// isolated (they then run as the cell's user).
func (c *Cell) isolatedUID(iso *runtime.Isolation) func(context.Context, string) (int, error) {
	if iso == nil {
		return nil
	}
	return c.spaceUID
}

// isolationReport is the runtime's report with the cell's reason for not
// isolating (why, "" when it does) in front.
func isolationReport(r paved.Isolation, why string) paved.Isolation {
	if why != "" {
		r.Reason = strings.TrimSuffix(why+"; "+r.Reason, "; ")
	}
	return r
}

// goBuildCache is the Go build cache of the cell's user ($GOCACHE, else
// the user cache dir's go-build), "" when there is none: builds read it
// through an overlay, so a space's first Go build is not a cold one.
func goBuildCache() string {
	dir := os.Getenv("GOCACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "go-build")
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || !filepath.IsAbs(dir) {
		return ""
	}
	return dir
}
