package paved

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Deployment strategies.
const (
	StrategyRolling   = "rolling"
	StrategyCanary    = "canary"
	StrategyBlueGreen = "blue_green"
	StrategyRecreate  = "recreate"
)

// DeploymentSpec says how a new release of an app is rolled out.
type DeploymentSpec struct {
	// Strategy is rolling (default), canary, blue_green or recreate.
	Strategy string `json:"strategy,omitempty"`
	// MaxInFlight bounds how many new instances start at once in a rolling
	// deploy (and in the rolling phase after a canary): a count ("2") or a
	// percentage of the instances ("25%"). Default "25%", at least 1.
	MaxInFlight string `json:"max_in_flight,omitempty"`
	// MinHealthyTime is how long a new instance must stay healthy before it
	// counts as ready and an old one may stop. Default 0s.
	MinHealthyTime Duration `json:"min_healthy_time,omitempty"`
	// Steps of a canary deploy, in order.
	Steps []CanaryStep `json:"steps,omitempty"`
	// MaxErrorRate is the highest share of failed canary requests (5xx or
	// failed connections, at the router) a step may see: 0.05 = 5%. Default 0.05.
	MaxErrorRate *float64 `json:"max_error_rate,omitempty"`
	// MinRequests is how many canary requests a watch window needs before
	// its error rate counts; fewer is inconclusive and the step waits. Default 20.
	MinRequests int `json:"min_requests,omitempty"`
	// KeepOld is how long blue-green keeps the old set after switching. Default 0s.
	KeepOld Duration `json:"keep_old,omitempty"`
	// ProgressDeadline fails a deployment that makes no progress for this
	// long. Default 10m; when set it must be positive.
	ProgressDeadline *Duration `json:"progress_deadline,omitempty"`
	// AutoRollback (default true) returns to the last good release when a
	// deployment fails; false stops it where it is.
	AutoRollback *bool `json:"auto_rollback,omitempty"`
	// DrainTimeout is how long an instance leaving the route may finish its
	// in-flight requests before SIGTERM. Default 10s.
	DrainTimeout Duration `json:"drain_timeout,omitempty"`
}

// CanaryStep is one step of a canary deploy: either a number of canary
// instances sharing traffic with the old ones, or a traffic weight (percent)
// sent to the canaries, watched for Watch.
type CanaryStep struct {
	Instances int      `json:"instances,omitempty"`
	Weight    int      `json:"weight,omitempty"`
	Watch     Duration `json:"watch,omitempty"`
}

// WeightSteps are canary steps from traffic weights (percent), each
// watched for watch: the steps of a canary block in the provider and the
// Pulumi plugin, where a step is only its weight.
func WeightSteps[W ~int | ~int64](weights []W, watch Duration) []CanaryStep {
	var steps []CanaryStep
	for _, w := range weights {
		steps = append(steps, CanaryStep{Weight: int(w), Watch: watch})
	}
	return steps
}

// StepWeights is WeightSteps the other way: the weight of each step, and
// the first step's watch (the front ends have one watch for all steps).
func StepWeights(steps []CanaryStep) (weights []int, watch Duration) {
	for _, st := range steps {
		weights = append(weights, st.Weight)
	}
	if len(steps) > 0 {
		watch = steps[0].Watch
	}
	return weights, watch
}

// Deployment statuses.
const (
	DeploymentRunning    = "running"
	DeploymentSucceeded  = "succeeded"
	DeploymentFailed     = "failed"      // stopped where it was (auto_rollback off)
	DeploymentRolledBack = "rolled_back" // failed and returned to the previous release
	DeploymentSuperseded = "superseded"  // a newer change replaced it
)

// Deployment is one rollout of a release.
type Deployment struct {
	ID          int64            `json:"id"`
	Space       string           `json:"space"`
	App         string           `json:"app"`
	Release     int              `json:"release"`
	From        int              `json:"from_release"`
	Strategy    DeploymentSpec   `json:"strategy"`
	Instances   int              `json:"instances"`
	Status      string           `json:"status"`
	Phase       string           `json:"phase"`
	Step        int              `json:"step"`
	Reason      string           `json:"reason,omitempty"`
	StartedAt   time.Time        `json:"started_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
	FinishedAt  *time.Time       `json:"finished_at,omitempty"`
	InstanceSet []InstanceStatus `json:"instance_states,omitempty"`
	Events      []Event          `json:"events,omitempty"`
}

// Done reports whether the deployment has ended.
func (d *Deployment) Done() bool { return d.Status != DeploymentRunning }

// Deployments is the deployments API.
type Deployments interface {
	Get(ctx context.Context, id int64) (*Deployment, error)
	List(ctx context.Context, space, app string) ([]Deployment, error)
}

type deployments struct{ c *Client }

var _ Deployments = deployments{}

func (s deployments) Get(ctx context.Context, id int64) (*Deployment, error) {
	var out Deployment
	if err := s.c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/deployments/%d", id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s deployments) List(ctx context.Context, space, app string) ([]Deployment, error) {
	var out struct {
		Deployments []Deployment `json:"deployments"`
	}
	err := s.c.do(ctx, http.MethodGet, appPath(space, app)+"/deployments", nil, &out)
	return out.Deployments, err
}
