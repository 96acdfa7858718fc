package paved

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Space groups apps; it is what environments clone and what roles scope.
type Space struct {
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	Version   int64             `json:"version"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// SpaceSpec is what a user sets on a space.
type SpaceSpec struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Spaces is the spaces API.
type Spaces interface {
	List(ctx context.Context) ([]Space, error)
	Get(ctx context.Context, name string) (*Space, error)
	Create(ctx context.Context, spec SpaceSpec, opts ...WriteOption) (*Space, error)
	Update(ctx context.Context, spec SpaceSpec, opts ...WriteOption) (*Space, error)
	Delete(ctx context.Context, name string, opts ...WriteOption) error
}

type spaces struct{ c *Client }

var _ Spaces = spaces{}

func spacePath(name string) string { return "/v1/spaces/" + url.PathEscape(name) }

func (s spaces) List(ctx context.Context) ([]Space, error) {
	var out struct {
		Spaces []Space `json:"spaces"`
	}
	err := s.c.do(ctx, http.MethodGet, "/v1/spaces", nil, &out)
	return out.Spaces, err
}

func (s spaces) Get(ctx context.Context, name string) (*Space, error) {
	var out Space
	if err := s.c.do(ctx, http.MethodGet, spacePath(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s spaces) Create(ctx context.Context, spec SpaceSpec, opts ...WriteOption) (*Space, error) {
	var out Space
	if err := s.c.do(ctx, http.MethodPost, "/v1/spaces", spec, &out, opts...); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s spaces) Update(ctx context.Context, spec SpaceSpec, opts ...WriteOption) (*Space, error) {
	var out Space
	if err := s.c.do(ctx, http.MethodPut, spacePath(spec.Name), spec, &out, opts...); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s spaces) Delete(ctx context.Context, name string, opts ...WriteOption) error {
	return s.c.do(ctx, http.MethodDelete, spacePath(name), nil, nil, opts...)
}
