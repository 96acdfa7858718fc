package paved

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Event is one entry of a cell's append-only audit trail.
type Event struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"` // e.g. app.create, release.fail
	Object string    `json:"object"` // e.g. app/demo/web
	Detail string    `json:"detail,omitempty"`
}

// ListEventsOptions pages through events: those with ID > After, at most Limit.
type ListEventsOptions struct {
	After int64
	Limit int
}

// Events is the audit trail API.
type Events interface {
	List(ctx context.Context, opts ListEventsOptions) ([]Event, error)
}

type events struct{ c *Client }

var _ Events = events{}

func (s events) List(ctx context.Context, opts ListEventsOptions) ([]Event, error) {
	path := fmt.Sprintf("/v1/events?after=%d", opts.After)
	if opts.Limit > 0 {
		path += fmt.Sprintf("&limit=%d", opts.Limit)
	}
	var out struct {
		Events []Event `json:"events"`
	}
	err := s.c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Events, err
}
