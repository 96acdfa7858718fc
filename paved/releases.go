package paved

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Release statuses.
const (
	ReleaseDeploying  = "deploying"
	ReleaseGood       = "good"
	ReleaseFailed     = "failed"
	ReleaseRolledBack = "rolled_back"
	ReleaseSuperseded = "superseded"
)

// ReleaseConfig is the part of an app spec a release freezes: the droplet
// and every setting that needs new instances to take effect.
type ReleaseConfig struct {
	Droplet string            `json:"droplet"`
	Source  string            `json:"source"`
	Build   string            `json:"build,omitempty"`
	Command string            `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	// SecretEnv is kept by the cell to run the release; the API never
	// returns it.
	SecretEnv   map[string]string `json:"secret_env,omitempty"`
	MemoryMB    int               `json:"memory_mb,omitempty"`
	HealthCheck *HealthCheck      `json:"health_check,omitempty"`
}

// Release is an immutable, numbered version of an app.
type Release struct {
	Number    int           `json:"number"`
	Config    ReleaseConfig `json:"config"`
	Status    string        `json:"status"`
	Reason    string        `json:"reason,omitempty"` // one sentence, when failed or rolled back
	Actor     string        `json:"actor"`
	CreatedAt time.Time     `json:"created_at"`
}

// Releases is the release history API of an app.
type Releases interface {
	List(ctx context.Context, space, app string) ([]Release, error)
	// Running is the release-bound settings of the release the app runs,
	// or of its spec when none has rolled out yet: what a front end shows
	// as the app's settings, so a change that was rolled back stays
	// pending.
	Running(ctx context.Context, a *App) (ReleaseConfig, error)
}

type releases struct{ c *Client }

var _ Releases = releases{}

func (s releases) List(ctx context.Context, space, app string) ([]Release, error) {
	var out struct {
		Releases []Release `json:"releases"`
	}
	err := s.c.do(ctx, http.MethodGet, appPath(space, app)+"/releases", nil, &out)
	return out.Releases, err
}

func (s releases) Running(ctx context.Context, a *App) (ReleaseConfig, error) {
	if a.Release == 0 {
		return a.SpecConfig(), nil
	}
	rels, err := s.List(ctx, a.Space, a.Name)
	if err != nil {
		return ReleaseConfig{}, fmt.Errorf("read the releases of %s/%s: %w", a.Space, a.Name, err)
	}
	for _, r := range rels {
		if r.Number == a.Release {
			return r.Config, nil
		}
	}
	return a.SpecConfig(), nil
}
