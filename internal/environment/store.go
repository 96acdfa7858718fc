package environment

import (
	"context"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Store is what environments need of the cell's store: the spaces and apps
// they clone and destroy, their releases and snapshots, and the event log.
// It is declared here, on the side that uses it, so the package depends
// on these methods only, not on the whole store.Store.
type Store interface {
	AppendEvent(ctx context.Context, e paved.Event) error
	CreateApp(ctx context.Context, actor, space string, spec paved.AppSpec) (store.App, error)
	CreateEnvironment(ctx context.Context, actor string, e store.Environment, labels map[string]string) (store.Environment, error)
	CreateSnapshot(ctx context.Context, space string, releases map[string]int, reason string) (paved.Snapshot, error)
	DeleteApp(ctx context.Context, actor, space, name string, ifVersion int64) error
	DeleteSpace(ctx context.Context, actor, name string, ifVersion int64) error
	GetApp(ctx context.Context, space, name string) (store.App, error)
	GetEnvironment(ctx context.Context, name string) (store.Environment, error)
	GetRelease(ctx context.Context, space, app string, number int) (paved.Release, error)
	GetSource(ctx context.Context, digest string) (paved.Source, error)
	GetSpace(ctx context.Context, name string) (paved.Space, error)
	ListApps(ctx context.Context, space string) ([]store.App, error)
	ListEnvironments(ctx context.Context) ([]store.Environment, error)
	ListReleases(ctx context.Context, space, app string) ([]paved.Release, error)
	ListSnapshots(ctx context.Context, space string) ([]paved.Snapshot, error)
	UpdateApp(ctx context.Context, actor, space string, spec paved.AppSpec, ifVersion int64) (store.App, error)
}

// The cell passes its store.Store, which has all of these.
var _ Store = store.Store(nil)
