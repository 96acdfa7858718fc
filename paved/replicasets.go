package paved

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// HopHeader marks a request that a cell's router forwarded to a peer cell
// for a global host. A router serves such a request with its local
// instances only and never forwards it again, so a request cannot bounce
// between cells. Apps that call their peers through the peers' routers
// (the donations example merging totals) set it for the same reason.
const HopHeader = "X-Paved-Hop"

// RegionHeader names the region whose instance served a request for a
// global host.
const RegionHeader = "X-Paved-Region"

// Peer is one cell of a replica set as the other cells see it: its region
// name and its router's address (host:port).
type Peer struct {
	Region string `json:"region"`
	Router string `json:"router"`
	// TLS says the peer's router speaks HTTPS only, so the other cells
	// probe it and forward to it over TLS. The fan-out takes it from the
	// region's /v1/health; records written before it existed mean HTTP.
	TLS bool `json:"tls,omitempty"`
}

// ReplicaSetRecord is one cell's record of a replica set: the local app
// that serves the set's global host and the peer cells to fail over to.
// The multi-region fan-out (ReplicaSets on Regions) writes it to every
// region; cells learn their peers from it, with no central coordinator.
type ReplicaSetRecord struct {
	Name       string `json:"name"`
	Space      string `json:"space"`
	App        string `json:"app"`
	GlobalHost string `json:"global_host"`
	// Peers lists every region of the set, this cell's own included (a
	// cell skips itself by region name).
	Peers     []Peer    `json:"peers"`
	Version   int64     `json:"version,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// ReplicaSetRecords is one cell's replica-set API (/v1/replica-sets).
type ReplicaSetRecords interface {
	List(ctx context.Context) ([]ReplicaSetRecord, error)
	Get(ctx context.Context, name string) (*ReplicaSetRecord, error)
	// Put creates or replaces a record. A global host another replica set
	// holds on this cell is refused with ErrConflict (field global_host).
	Put(ctx context.Context, rec ReplicaSetRecord) (*ReplicaSetRecord, error)
	Delete(ctx context.Context, name string) error
}

type replicaSetRecords struct{ c *Client }

var _ ReplicaSetRecords = replicaSetRecords{}

func replicaSetPath(name string) string { return "/v1/replica-sets/" + url.PathEscape(name) }

func (s replicaSetRecords) List(ctx context.Context) ([]ReplicaSetRecord, error) {
	var out struct {
		ReplicaSets []ReplicaSetRecord `json:"replica_sets"`
	}
	err := s.c.do(ctx, http.MethodGet, "/v1/replica-sets", nil, &out)
	return out.ReplicaSets, err
}

func (s replicaSetRecords) Get(ctx context.Context, name string) (*ReplicaSetRecord, error) {
	var out ReplicaSetRecord
	if err := s.c.do(ctx, http.MethodGet, replicaSetPath(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s replicaSetRecords) Put(ctx context.Context, rec ReplicaSetRecord) (*ReplicaSetRecord, error) {
	var out ReplicaSetRecord
	if err := s.c.do(ctx, http.MethodPut, replicaSetPath(rec.Name), rec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s replicaSetRecords) Delete(ctx context.Context, name string) error {
	return s.c.do(ctx, http.MethodDelete, replicaSetPath(name), nil, nil)
}
