// Package store keeps a cell's durable state. Store is the interface the
// rest of the cell uses; Open returns the embedded SQLite implementation. A
// PostgreSQL implementation can stand behind the same interface for a highly
// available control plane.
//
// Every write is one transaction that also appends its row to the events
// table, so the audit trail can never disagree with the state it describes.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Errors returned by every Store implementation.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrStale    = errors.New("version mismatch")
	ErrNotEmpty = errors.New("not empty")
)

// AppState is what the deployer has made true of an app; the API only reads it.
type AppState struct {
	Status             string `json:"status"`
	Message            string `json:"message,omitempty"`
	Failure            string `json:"failure,omitempty"` // why the newest change failed; cleared by the next one
	Release            int    `json:"release"`           // release the instances run
	TargetRelease      int    `json:"target_release"`    // release being rolled out, or left half-rolled by a failed deployment
	Deployment         int64  `json:"deployment"`        // the deployment in progress, 0 when none
	LastGoodRelease    int    `json:"last_good_release"`
	HealthyRelease     int    `json:"healthy_release,omitempty"` // newest release whose rollout completed healthy (gated apps wait here for their pipeline)
	Droplet            string `json:"droplet,omitempty"`
	ObservedGeneration int64  `json:"observed_generation"`
}

// App is an app row: the user's spec and the deployer's state.
type App struct {
	Space      string
	Spec       paved.AppSpec
	State      AppState
	Version    int64
	Generation int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Droplet is the immutable result of one successful build.
type Droplet struct {
	Digest    string
	Source    string
	Command   string
	CreatedAt time.Time
}

// Idempotent is a remembered answer to a create with an Idempotency-Key.
type Idempotent struct {
	Key     string
	Request string
	Status  int
	Body    []byte
	Headers map[string]string // response headers to replay (ETag, Location)
}

// Counts are the object totals shown by /v1/health.
type Counts struct {
	Spaces, Apps int
}

// Store is the cell's state. Version arguments named ifVersion are
// optimistic-concurrency guards: 0 means unconditional, otherwise the write
// fails with ErrStale unless the row is at that version.
type Store interface {
	CellID() string

	// SpaceUID is the unprivileged uid a space's processes run as,
	// allocated from [base, base+size) on first use and never reused.
	SpaceUID(ctx context.Context, space string, base, size int) (int, error)

	ListSpaces(ctx context.Context) ([]paved.Space, error)
	GetSpace(ctx context.Context, name string) (paved.Space, error)
	CreateSpace(ctx context.Context, actor string, spec paved.SpaceSpec) (paved.Space, error)
	UpdateSpace(ctx context.Context, actor string, spec paved.SpaceSpec, ifVersion int64) (paved.Space, error)
	DeleteSpace(ctx context.Context, actor, name string, ifVersion int64) error

	ListApps(ctx context.Context, space string) ([]App, error) // "" = all spaces
	GetApp(ctx context.Context, space, name string) (App, error)
	CreateApp(ctx context.Context, actor, space string, spec paved.AppSpec) (App, error)
	UpdateApp(ctx context.Context, actor, space string, spec paved.AppSpec, ifVersion int64) (App, error)
	DeleteApp(ctx context.Context, actor, space, name string, ifVersion int64) error
	// TouchApp makes the deployer cut a new release with the same spec.
	TouchApp(ctx context.Context, actor, space, name, why string) error
	// SetAppState records the deployer's view; event, when non-empty, is
	// appended to the audit trail in the same transaction.
	SetAppState(ctx context.Context, space, name string, st AppState, event *paved.Event) error

	CreateRelease(ctx context.Context, actor, space, app string, cfg paved.ReleaseConfig) (paved.Release, error)
	GetRelease(ctx context.Context, space, app string, number int) (paved.Release, error)
	ListReleases(ctx context.Context, space, app string) ([]paved.Release, error)
	SetReleaseStatus(ctx context.Context, actor, space, app string, number int, status, reason string) error

	PutSource(ctx context.Context, actor, digest string, size int64) (src paved.Source, created bool, err error)
	GetSource(ctx context.Context, digest string) (paved.Source, error)

	CreateBuild(ctx context.Context, actor string, b paved.Build) (paved.Build, error)
	FinishBuild(ctx context.Context, id int64, status, errMsg, droplet string) (paved.Build, error)
	GetBuild(ctx context.Context, space, app string, id int64) (paved.Build, error)
	ListBuilds(ctx context.Context, space, app string) ([]paved.Build, error)
	// FailRunningBuilds marks builds left running by a previous process as failed.
	FailRunningBuilds(ctx context.Context, reason string) (int, error)
	GetDroplet(ctx context.Context, digest string) (Droplet, error)
	PutDroplet(ctx context.Context, d Droplet) error

	CreateDeployment(ctx context.Context, actor string, d Deployment) (Deployment, error)
	UpdateDeployment(ctx context.Context, d Deployment, note string) error
	GetDeployment(ctx context.Context, id int64) (Deployment, error)
	ListDeployments(ctx context.Context, space, app string) ([]Deployment, error)

	SetPipeline(ctx context.Context, actor, space string, spec paved.PipelineSpec, ifVersion int64, newToken func() string) (Pipeline, map[string]string, error)
	GetPipeline(ctx context.Context, space, name string) (Pipeline, error)
	GetPipelineByID(ctx context.Context, id int64) (Pipeline, error)
	ListPipelines(ctx context.Context, space string) ([]Pipeline, error)
	DeletePipeline(ctx context.Context, actor, space, name string) error
	AddVersion(ctx context.Context, pipelineID int64, source, version, message string) (paved.SourceVersion, bool, error)
	ListVersions(ctx context.Context, pipelineID int64, source string) ([]paved.SourceVersion, error)
	CreateJobBuild(ctx context.Context, pipelineID int64, job string, inputs map[string]Input) (JobBuild, bool, error)
	UpdateJobBuild(ctx context.Context, b JobBuild) error
	GetJobBuild(ctx context.Context, id int64) (JobBuild, error)
	ListJobBuilds(ctx context.Context, pipelineID int64, job string) ([]JobBuild, error)
	ListJobBuildsByStatus(ctx context.Context, status string) ([]JobBuild, error)
	PruneJobBuilds(ctx context.Context, pipelineID int64, job string, keep int) error

	CreateEnvironment(ctx context.Context, actor string, e Environment, labels map[string]string) (Environment, error)
	GetEnvironment(ctx context.Context, name string) (Environment, error)
	ListEnvironments(ctx context.Context) ([]Environment, error)
	CreateSnapshot(ctx context.Context, space string, releases map[string]int, reason string) (paved.Snapshot, error)
	GetSnapshot(ctx context.Context, space string, number int) (paved.Snapshot, error)
	ListSnapshots(ctx context.Context, space string) ([]paved.Snapshot, error)

	PutReplicaSet(ctx context.Context, actor string, r paved.ReplicaSetRecord) (paved.ReplicaSetRecord, error)
	GetReplicaSet(ctx context.Context, name string) (paved.ReplicaSetRecord, error)
	ReplicaSetByHost(ctx context.Context, host string) (paved.ReplicaSetRecord, error)
	ListReplicaSets(ctx context.Context) ([]paved.ReplicaSetRecord, error)
	DeleteReplicaSet(ctx context.Context, actor, name string) error

	// Tokens: the secret is never stored, only hash (hex sha256 of it).
	// CreateToken fills the ID and returns ErrExists when hash is taken;
	// TokenByHash returns revoked tokens too (the caller refuses them).
	CreateToken(ctx context.Context, actor string, t paved.Token, hash string) (paved.Token, error)
	GetToken(ctx context.Context, id string) (paved.Token, error)
	TokenByHash(ctx context.Context, hash string) (paved.Token, error)
	ListTokens(ctx context.Context) ([]paved.Token, error)
	RevokeToken(ctx context.Context, actor, id string) (paved.Token, error)
	// RenewToken moves a token's expiry to at + ttl (0: its own TTL);
	// ErrTokenRevoked, ErrTokenExpired or ErrTokenNoExpiry when it cannot.
	RenewToken(ctx context.Context, actor, id string, ttl time.Duration, at time.Time) (paved.Token, error)

	// Backing services (services.go). Passwords and credentials are
	// sealed at rest and opened on read.
	PutServiceBroker(ctx context.Context, actor string, spec paved.ServiceBrokerSpec, catalog json.RawMessage, offerings []string) (ServiceBrokerRecord, error)
	GetServiceBroker(ctx context.Context, name string) (ServiceBrokerRecord, error)
	ListServiceBrokers(ctx context.Context) ([]ServiceBrokerRecord, error)
	DeleteServiceBroker(ctx context.Context, actor, name string) error
	CreateServiceInstance(ctx context.Context, actor string, r ServiceInstanceRecord) (ServiceInstanceRecord, error)
	UpdateServiceInstance(ctx context.Context, r ServiceInstanceRecord, ev *paved.Event) error
	GetServiceInstance(ctx context.Context, space, name string) (ServiceInstanceRecord, error)
	ListServiceInstances(ctx context.Context, space string) ([]ServiceInstanceRecord, error)
	DeleteServiceInstance(ctx context.Context, actor, space, name string) error
	CreateServiceBinding(ctx context.Context, actor string, r ServiceBindingRecord) (ServiceBindingRecord, error)
	UpdateServiceBinding(ctx context.Context, r ServiceBindingRecord, ev *paved.Event) error
	GetServiceBinding(ctx context.Context, space, name string) (ServiceBindingRecord, error)
	ListServiceBindings(ctx context.Context, space string) ([]ServiceBindingRecord, error)
	DeleteServiceBinding(ctx context.Context, actor, space, name string) error

	AppendEvent(ctx context.Context, e paved.Event) error
	ListObjectEvents(ctx context.Context, object string) ([]paved.Event, error)
	ListEvents(ctx context.Context, after int64, limit int) ([]paved.Event, error)

	GetIdempotent(ctx context.Context, key string) (Idempotent, error)
	PutIdempotent(ctx context.Context, rec Idempotent) error

	Counts(ctx context.Context) (Counts, error)
	Close() error
}
