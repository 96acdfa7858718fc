package deploy

import (
	"context"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Store is what the deployer needs of the cell's store: apps and their
// state, releases, deployments (the persisted rollouts) and the event log.
// It is declared here, on the side that uses it, so the package depends
// on these methods only, not on the whole store.Store.
type Store interface {
	AppendEvent(ctx context.Context, e paved.Event) error
	CreateDeployment(ctx context.Context, actor string, d store.Deployment) (store.Deployment, error)
	CreateRelease(ctx context.Context, actor, space, app string, cfg paved.ReleaseConfig) (paved.Release, error)
	FailRunningBuilds(ctx context.Context, reason string) (int, error)
	GetApp(ctx context.Context, space, name string) (store.App, error)
	GetDeployment(ctx context.Context, id int64) (store.Deployment, error)
	GetRelease(ctx context.Context, space, app string, number int) (paved.Release, error)
	ListApps(ctx context.Context, space string) ([]store.App, error)
	SetAppState(ctx context.Context, space, name string, st store.AppState, event *paved.Event) error
	SetReleaseStatus(ctx context.Context, actor, space, app string, number int, status, reason string) error
	UpdateDeployment(ctx context.Context, d store.Deployment, note string) error
}

// The cell passes its store.Store, which has all of these.
var _ Store = store.Store(nil)
