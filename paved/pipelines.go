package paved

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Source types of a pipeline.
const (
	SourceGit        = "git"
	SourceSemver     = "semver"
	SourceTime       = "time"
	SourceAppRelease = "app_release"
)

// PipelineSpec is a delivery pipeline: sources that produce versions and
// jobs of steps that consume them. It is the same model in the API, in
// `paved pipeline set -c pipeline.yml` and in the paved_pipeline resource.
type PipelineSpec struct {
	Name    string       `json:"name"`
	Paused  bool         `json:"paused,omitempty"`
	Sources []SourceSpec `json:"sources"`
	Jobs    []JobSpec    `json:"jobs"`
	// Retain is how many builds per job are kept (default 100).
	Retain int `json:"retain,omitempty"`
	// WebhookSecrets sets the webhook secret of sources (source name →
	// secret, each CheckWebhookSecret-valid), chosen by the caller, e.g.
	// from an ephemeral value. Write-only: the cell keeps only a sha256 of
	// each and never returns them. A source not named keeps the secret it
	// has; a new source without one gets a generated secret, returned once
	// in the answer to the Set that created it (Webhook.Token).
	WebhookSecrets map[string]string `json:"webhook_secrets,omitempty"`
}

// SourceSpec is where versions come from.
type SourceSpec struct {
	Name string `json:"name"`
	Type string `json:"type"` // git, semver, time, app_release
	// CheckEvery is how often the source is polled (default 1m); a webhook
	// checks it at once.
	CheckEvery Duration `json:"check_every,omitempty"`

	URI    string   `json:"uri,omitempty"`    // git: anything `git fetch` takes, local paths included
	Branch string   `json:"branch,omitempty"` // git: default main
	Paths  []string `json:"paths,omitempty"`  // git: only commits touching these paths count

	Initial string `json:"initial,omitempty"` // semver: first version (default 0.0.0)

	Interval Duration `json:"interval,omitempty"` // time: a new version every interval

	App string `json:"app,omitempty"` // app_release: an app of the pipeline's space
	// Gate (app_release) makes the jobs that get this source gate the app:
	// its versions are releases that rolled out healthy, and a release
	// becomes the app's last good release only when every such job passed it.
	Gate bool `json:"gate,omitempty"`
}

// JobSpec is a sequence of steps run as one build.
type JobSpec struct {
	Name        string `json:"name"`
	Serial      bool   `json:"serial,omitempty"`        // one build at a time
	MaxInFlight int    `json:"max_in_flight,omitempty"` // builds at once (default unlimited; serial = 1)
	Plan        []Step `json:"plan"`
	OnSuccess   *Step  `json:"on_success,omitempty"`
	OnFailure   *Step  `json:"on_failure,omitempty"`
	Ensure      *Step  `json:"ensure,omitempty"`
}

// Step is one step of a job; exactly one of Get, Task, Deploy, Assert, Put,
// InParallel or Try is set.
type Step struct {
	// get: fetch a version of a source into a directory named after it.
	Get     string   `json:"get,omitempty"`
	Trigger bool     `json:"trigger,omitempty"` // a new version starts a build
	Passed  []string `json:"passed,omitempty"`  // only versions that passed all these jobs
	Version string   `json:"version,omitempty"` // latest (default), every, or a pinned version

	// task: run a command.
	Task     string            `json:"task,omitempty"`
	Run      string            `json:"run,omitempty"` // shell command
	Dir      string            `json:"dir,omitempty"` // working directory (an input or output name)
	Env      map[string]string `json:"env,omitempty"`
	Inputs   []string          `json:"inputs,omitempty"`  // directories it reads (defaults: all)
	Outputs  []string          `json:"outputs,omitempty"` // directories it creates for later steps
	Timeout  Duration          `json:"timeout,omitempty"`
	Attempts int               `json:"attempts,omitempty"` // tries before failing (default 1)

	// deploy: push a directory to an app of the space and wait for the rollout.
	Deploy string `json:"deploy,omitempty"` // app name
	From   string `json:"from,omitempty"`   // directory (a get or an output)

	// assert: a check that must pass.
	Assert  string        `json:"assert,omitempty"`
	HTTP    *HTTPAssert   `json:"http,omitempty"`
	Command string        `json:"command,omitempty"`
	Backup  *BackupAssert `json:"backup,omitempty"`

	// environment: a preview environment cloned from FromSpace for this
	// build, with App running the directory Source; later steps reach it
	// (asserts with url "env:APP/path"). It is destroyed when the job
	// succeeds and kept until its TTL when the job fails.
	Environment string   `json:"environment,omitempty"`
	FromSpace   string   `json:"from_space,omitempty"`
	App         string   `json:"app,omitempty"`
	Source      string   `json:"source,omitempty"`
	TTL         Duration `json:"ttl,omitempty"`

	// put: bump a semver source.
	Put  string `json:"put,omitempty"`
	Bump string `json:"bump,omitempty"` // major, minor or patch

	InParallel []Step `json:"in_parallel,omitempty"`
	Try        *Step  `json:"try,omitempty"`

	OnSuccess *Step `json:"on_success,omitempty"`
	OnFailure *Step `json:"on_failure,omitempty"`
	Ensure    *Step `json:"ensure,omitempty"`
}

// HTTPAssert checks a URL. Host sends a Host header (to reach an app
// through the cell's router, use URL "router:/path" and Host the route).
type HTTPAssert struct {
	URL        string   `json:"url"`
	Host       string   `json:"host,omitempty"`
	Status     int      `json:"status,omitempty"`      // default 200
	Contains   string   `json:"contains,omitempty"`    // the body must contain this
	MaxLatency Duration `json:"max_latency,omitempty"` // the answer must come within this
}

// BackupAssert checks that a backup newer than an app's running release
// exists: a file in Path (on the cell's host) modified after the release
// was cut. It is the resilience check "no release without a backup".
type BackupAssert struct {
	Path string `json:"path"`
	App  string `json:"app"` // an app of the pipeline's space
}

// Kind names what a step does.
func (s Step) Kind() string {
	switch {
	case s.Get != "":
		return "get"
	case s.Task != "":
		return "task"
	case s.Deploy != "":
		return "deploy"
	case s.Assert != "":
		return "assert"
	case s.Put != "":
		return "put"
	case s.Environment != "":
		return "environment"
	case len(s.InParallel) > 0:
		return "in_parallel"
	case s.Try != nil:
		return "try"
	}
	return ""
}

// Label names a step in logs and timings: "get repo", "task unit".
func (s Step) Label() string {
	switch k := s.Kind(); k {
	case "get":
		return "get " + s.Get
	case "task":
		return "task " + s.Task
	case "deploy":
		return "deploy " + s.Deploy
	case "assert":
		return "assert " + s.Assert
	case "put":
		return "put " + s.Put
	case "environment":
		return "environment " + s.Environment
	default:
		return k
	}
}

// Pipeline is a pipeline as the cell knows it.
type Pipeline struct {
	PipelineSpec
	Space     string    `json:"space"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Webhooks holds each source's check URL path: POST {path} with header
	// X-Paved-Webhook-Token set to the source's webhook secret.
	Webhooks map[string]Webhook `json:"webhooks,omitempty"`
}

// Webhook is how a source is told to check now.
type Webhook struct {
	Path string `json:"path"`
	// Token is set only in the answer to the Set that generated it (a new
	// source without a caller-chosen secret): the cell keeps a hash and
	// can never show it again.
	Token string `json:"token,omitempty"`
}

// WebhookHeader carries a source's webhook secret on a check call.
const WebhookHeader = "X-Paved-Webhook-Token"

// CheckWebhookSecret checks a caller-chosen webhook secret: the rules of
// token secrets (MinTokenSecret to MaxTokenSecret printable ASCII
// characters without spaces; it travels in a header).
func CheckWebhookSecret(s string) error { return CheckTokenSecret(s) }

// Build statuses of pipeline builds (running and failed are shared with staging builds).
const (
	BuildPending  = "pending"
	BuildErrored  = "errored" // the cell failed, not the job (e.g. it restarted mid-build)
	BuildAborted  = "aborted"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	StepSkipped   = "skipped"
	StepRunning   = "running"
	StepErrored   = "errored"
)

// JobBuild is one run of a job.
type JobBuild struct {
	ID         int64             `json:"id"`
	Pipeline   string            `json:"pipeline"`
	Space      string            `json:"space"`
	Job        string            `json:"job"`
	Number     int               `json:"number"`
	Status     string            `json:"status"`
	Reason     string            `json:"reason,omitempty"`
	Inputs     map[string]string `json:"inputs"` // source → version
	Steps      []StepRun         `json:"steps"`
	Attempt    int               `json:"attempt"`
	CreatedAt  time.Time         `json:"created_at"`
	StartedAt  *time.Time        `json:"started_at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
}

// StepRun is one step of a build with its timing.
type StepRun struct {
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Seconds    float64    `json:"seconds"`
	Error      string     `json:"error,omitempty"`
}

// StepTiming summarises one step over recent builds: where a pipeline slows down.
type StepTiming struct {
	Job    string  `json:"job"`
	Step   string  `json:"step"`
	Builds int     `json:"builds"`
	P50    float64 `json:"p50_seconds"`
	P95    float64 `json:"p95_seconds"`
	Max    float64 `json:"max_seconds"`
}

// SourceVersion is one version a source produced.
type SourceVersion struct {
	ID        int64     `json:"id"`
	Source    string    `json:"source"`
	Version   string    `json:"version"`
	Message   string    `json:"message,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Pipelines is the pipelines API.
type Pipelines interface {
	List(ctx context.Context, space string) ([]Pipeline, error)
	Get(ctx context.Context, space, name string) (*Pipeline, error)
	// Set creates or replaces a pipeline.
	Set(ctx context.Context, space string, spec PipelineSpec, opts ...WriteOption) (*Pipeline, error)
	Delete(ctx context.Context, space, name string) error
	Check(ctx context.Context, space, name, source string) error
	// Webhook checks a source the way a forge's webhook does: with the
	// source's webhook secret instead of the client's token. A wrong secret
	// is ErrUnauthorized (and counts as a failed login).
	Webhook(ctx context.Context, space, name, source, secret string) error
	Versions(ctx context.Context, space, name, source string) ([]SourceVersion, error)
	Builds(ctx context.Context, space, name, job string) ([]JobBuild, error)
	Build(ctx context.Context, id int64) (*JobBuild, error)
	BuildLog(ctx context.Context, id int64) (string, error)
	// BuildLogFrom returns the log from a byte offset and the offset to ask
	// for next, to follow a running build.
	BuildLogFrom(ctx context.Context, id, offset int64) (string, int64, error)
	Timings(ctx context.Context, space, name string, last int) ([]StepTiming, error)
}

type pipelines struct{ c *Client }

var _ Pipelines = pipelines{}

func pipelinePath(space, name string) string {
	return spacePath(space) + "/pipelines/" + url.PathEscape(name)
}

func (s pipelines) List(ctx context.Context, space string) ([]Pipeline, error) {
	var out struct {
		Pipelines []Pipeline `json:"pipelines"`
	}
	err := s.c.do(ctx, http.MethodGet, spacePath(space)+"/pipelines", nil, &out)
	return out.Pipelines, err
}

func (s pipelines) Get(ctx context.Context, space, name string) (*Pipeline, error) {
	var out Pipeline
	if err := s.c.do(ctx, http.MethodGet, pipelinePath(space, name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s pipelines) Set(ctx context.Context, space string, spec PipelineSpec, opts ...WriteOption) (*Pipeline, error) {
	var out Pipeline
	if err := s.c.do(ctx, http.MethodPut, pipelinePath(space, spec.Name), spec, &out, opts...); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s pipelines) Delete(ctx context.Context, space, name string) error {
	return s.c.do(ctx, http.MethodDelete, pipelinePath(space, name), nil, nil)
}

func (s pipelines) Check(ctx context.Context, space, name, source string) error {
	return s.c.do(ctx, http.MethodPost, pipelinePath(space, name)+"/sources/"+url.PathEscape(source)+"/check", nil, nil)
}

func (s pipelines) Webhook(ctx context.Context, space, name, source, secret string) error {
	asWebhook := func(r *http.Request) {
		r.Header.Del("Authorization")
		r.Header.Set(WebhookHeader, secret)
	}
	return s.c.do(ctx, http.MethodPost, pipelinePath(space, name)+"/sources/"+url.PathEscape(source)+"/check", nil, nil, asWebhook)
}

func (s pipelines) Versions(ctx context.Context, space, name, source string) ([]SourceVersion, error) {
	var out struct {
		Versions []SourceVersion `json:"versions"`
	}
	err := s.c.do(ctx, http.MethodGet, pipelinePath(space, name)+"/sources/"+url.PathEscape(source)+"/versions", nil, &out)
	return out.Versions, err
}

func (s pipelines) Builds(ctx context.Context, space, name, job string) ([]JobBuild, error) {
	var out struct {
		Builds []JobBuild `json:"builds"`
	}
	path := pipelinePath(space, name) + "/builds"
	if job != "" {
		path = pipelinePath(space, name) + "/jobs/" + url.PathEscape(job) + "/builds"
	}
	err := s.c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Builds, err
}

func (s pipelines) Build(ctx context.Context, id int64) (*JobBuild, error) {
	var out JobBuild
	if err := s.c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/job-builds/%d", id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s pipelines) BuildLog(ctx context.Context, id int64) (string, error) {
	log, _, err := s.BuildLogFrom(ctx, id, 0)
	return log, err
}

func (s pipelines) BuildLogFrom(ctx context.Context, id, offset int64) (string, int64, error) {
	var out struct {
		Log    string `json:"log"`
		Offset int64  `json:"offset"`
	}
	err := s.c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/job-builds/%d/log?offset=%d", id, offset), nil, &out)
	return out.Log, out.Offset, err
}

func (s pipelines) Timings(ctx context.Context, space, name string, last int) ([]StepTiming, error) {
	var out struct {
		Timings []StepTiming `json:"timings"`
	}
	err := s.c.do(ctx, http.MethodGet, fmt.Sprintf("%s/timings?last=%d", pipelinePath(space, name), last), nil, &out)
	return out.Timings, err
}
