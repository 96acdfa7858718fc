package pipeline

import (
	"context"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Store is what the pipeline engine needs of the cell's store: pipelines,
// their source versions and builds, and the apps and releases that deploy
// steps and app_release sources read.
// It is declared here, on the side that uses it, so the package depends
// on these methods only, not on the whole store.Store.
type Store interface {
	AddVersion(ctx context.Context, pipelineID int64, source, version, message string) (paved.SourceVersion, bool, error)
	CellID() string
	CreateJobBuild(ctx context.Context, pipelineID int64, job string, inputs map[string]store.Input) (store.JobBuild, bool, error)
	GetApp(ctx context.Context, space, name string) (store.App, error)
	GetJobBuild(ctx context.Context, id int64) (store.JobBuild, error)
	GetPipelineByID(ctx context.Context, id int64) (store.Pipeline, error)
	GetRelease(ctx context.Context, space, app string, number int) (paved.Release, error)
	ListJobBuilds(ctx context.Context, pipelineID int64, job string) ([]store.JobBuild, error)
	ListJobBuildsByStatus(ctx context.Context, status string) ([]store.JobBuild, error)
	ListPipelines(ctx context.Context, space string) ([]store.Pipeline, error)
	ListVersions(ctx context.Context, pipelineID int64, source string) ([]paved.SourceVersion, error)
	PruneJobBuilds(ctx context.Context, pipelineID int64, job string, keep int) error
	UpdateJobBuild(ctx context.Context, b store.JobBuild) error
}

// The cell passes its store.Store, which has all of these.
var _ Store = store.Store(nil)
