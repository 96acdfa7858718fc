package paved

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// EnvironmentSpec asks for a preview environment: a new space holding a copy
// of every app of FromSpace at its last good release, with overrides.
type EnvironmentSpec struct {
	Name             string                 `json:"name"`
	FromSpace        string                 `json:"from_space"`
	TTL              Duration               `json:"ttl"`                          // 1s to 30 days: MinEnvironmentTTL, MaxEnvironmentTTL
	DestroyOnSuccess bool                   `json:"destroy_on_success,omitempty"` // a pipeline destroys it after a successful run
	Overrides        map[string]AppOverride `json:"overrides,omitempty"`          // by app name
}

// AppOverride changes one cloned app.
type AppOverride struct {
	Source    string            `json:"source,omitempty"`
	Instances *int              `json:"instances,omitempty"`
	Env       map[string]string `json:"env,omitempty"` // merged over the app's env
}

// Environment is a preview environment.
type Environment struct {
	EnvironmentSpec
	ExpiresAt time.Time         `json:"expires_at"`
	CreatedAt time.Time         `json:"created_at"`
	URLs      map[string]string `json:"urls"` // app → URL (send it to the cell's router)
}

// Snapshot is the last good release of every app of a space at one moment.
type Snapshot struct {
	Space     string         `json:"space"`
	Number    int            `json:"number"`
	Releases  map[string]int `json:"releases"` // app → release
	Reason    string         `json:"reason,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// Environments is the preview environments API.
type Environments interface {
	Create(ctx context.Context, spec EnvironmentSpec) (*Environment, error)
	Get(ctx context.Context, name string) (*Environment, error)
	List(ctx context.Context) ([]Environment, error)
	Delete(ctx context.Context, name string) error
}

// Snapshots is the space snapshots API.
type Snapshots interface {
	List(ctx context.Context, space string) ([]Snapshot, error)
	// Restore rolls every app of the space back to a snapshot (0 = the one
	// before the newest) with each app's strategy.
	Restore(ctx context.Context, space string, number int) (*Snapshot, error)
}

type environments struct{ c *Client }
type snapshots struct{ c *Client }

var (
	_ Environments = environments{}
	_ Snapshots    = snapshots{}
)

func (s environments) Create(ctx context.Context, spec EnvironmentSpec) (*Environment, error) {
	var out Environment
	if err := s.c.do(ctx, http.MethodPost, "/v1/environments", spec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s environments) Get(ctx context.Context, name string) (*Environment, error) {
	var out Environment
	if err := s.c.do(ctx, http.MethodGet, "/v1/environments/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s environments) List(ctx context.Context) ([]Environment, error) {
	var out struct {
		Environments []Environment `json:"environments"`
	}
	err := s.c.do(ctx, http.MethodGet, "/v1/environments", nil, &out)
	return out.Environments, err
}

func (s environments) Delete(ctx context.Context, name string) error {
	return s.c.do(ctx, http.MethodDelete, "/v1/environments/"+url.PathEscape(name), nil, nil)
}

func (s snapshots) List(ctx context.Context, space string) ([]Snapshot, error) {
	var out struct {
		Snapshots []Snapshot `json:"snapshots"`
	}
	err := s.c.do(ctx, http.MethodGet, spacePath(space)+"/snapshots", nil, &out)
	return out.Snapshots, err
}

func (s snapshots) Restore(ctx context.Context, space string, number int) (*Snapshot, error) {
	var out Snapshot
	body := map[string]int{}
	if number > 0 {
		body["snapshot"] = number
	}
	if err := s.c.do(ctx, http.MethodPost, fmt.Sprintf("%s/restore", spacePath(space)), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
