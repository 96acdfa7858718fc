package paved

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Build statuses.
const (
	BuildRunning   = "running"
	BuildSucceeded = "succeeded"
	BuildFailed    = "failed"
)

// Build is one run of an app's build command over one source.
type Build struct {
	ID         int64      `json:"id"`
	App        string     `json:"app"`
	Space      string     `json:"space"`
	Source     string     `json:"source"`
	Command    string     `json:"command"`
	Status     string     `json:"status"`
	Error      string     `json:"error,omitempty"`
	Droplet    string     `json:"droplet,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Builds is the build (staging) API of an app.
type Builds interface {
	List(ctx context.Context, space, app string) ([]Build, error)
	Get(ctx context.Context, space, app string, id int64) (*Build, error)
	// Log returns the build's combined output.
	Log(ctx context.Context, space, app string, id int64) (string, error)
}

type builds struct{ c *Client }

var _ Builds = builds{}

func buildPath(space, app string, id int64) string {
	return fmt.Sprintf("%s/builds/%d", appPath(space, app), id)
}

func (s builds) List(ctx context.Context, space, app string) ([]Build, error) {
	var out struct {
		Builds []Build `json:"builds"`
	}
	err := s.c.do(ctx, http.MethodGet, appPath(space, app)+"/builds", nil, &out)
	return out.Builds, err
}

func (s builds) Get(ctx context.Context, space, app string, id int64) (*Build, error) {
	var out Build
	if err := s.c.do(ctx, http.MethodGet, buildPath(space, app, id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s builds) Log(ctx context.Context, space, app string, id int64) (string, error) {
	var out struct {
		Log string `json:"log"`
	}
	err := s.c.do(ctx, http.MethodGet, buildPath(space, app, id)+"/log", nil, &out)
	return out.Log, err
}
