package provider

import (
	"github.com/pulumi/pulumi-go-provider/infer"
)

// The inputs of paved:index:Pipeline mirror paved.PipelineSpec one to one
// (camelCase property names, durations as strings, a job's plan named
// steps), so a validation path of paved's JSON vocabulary maps onto a
// property path by renaming alone (see pipelinePath). A step is one type
// at every depth: in inParallel, under try and as a hook, as in the model.

// PipelineSettings are what a program declares about a pipeline: its
// inputs (PipelineArgs) but the secrets, and so its outputs too.
type PipelineSettings struct {
	Space   string           `pulumi:"space" provider:"replaceOnChanges"`
	Name    string           `pulumi:"name" provider:"replaceOnChanges"`
	Paused  *bool            `pulumi:"paused,optional"`
	Retain  *int             `pulumi:"retain,optional"`
	Sources []PipelineSource `pulumi:"sources"`
	Jobs    []PipelineJob    `pulumi:"jobs"`
}

// PipelineArgs are a pipeline's inputs: its settings and the webhook
// secrets, which are never outputs (the cell keeps only their hashes).
type PipelineArgs struct {
	PipelineSettings
	WebhookSecrets map[string]string `pulumi:"webhookSecrets,optional" provider:"secret"`
}

// Annotate documents the secret input.
func (a *PipelineArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.WebhookSecrets, "Per source: the secret a webhook call sends in `X-Paved-Webhook-Token` (at least 32 printable "+
		"characters without spaces). A Pulumi secret, sent to the cell, which keeps only its sha256; never an output. "+
		"A source left out keeps the secret it has; one that never had one has a secret nobody knows (only polling reaches it).")
}

// Annotate documents the settings.
func (a *PipelineSettings) Annotate(an infer.Annotator) {
	an.Describe(&a.Space, "Space of the pipeline (its deploy steps push to apps of this space). Changing it replaces the pipeline.")
	an.Describe(&a.Name, "Name: a DNS label. Changing it replaces the pipeline.")
	an.Describe(&a.Paused, "A paused pipeline checks no source and starts no build.")
	an.Describe(&a.Retain, "Builds kept per job (default 100).")
	an.Describe(&a.Sources, "Where versions come from: `git`, `semver`, `time` or `app_release` sources.")
	an.Describe(&a.Jobs, "Jobs: sequences of steps run as one build for each new version of the sources they get with `trigger`.")
}

// PipelineSource is a source of versions.
type PipelineSource struct {
	Name       string   `pulumi:"name"`
	Type       string   `pulumi:"type"`
	CheckEvery *string  `pulumi:"checkEvery,optional"`
	Uri        *string  `pulumi:"uri,optional"`
	Branch     *string  `pulumi:"branch,optional"`
	Paths      []string `pulumi:"paths,optional"`
	Initial    *string  `pulumi:"initial,optional"`
	Interval   *string  `pulumi:"interval,optional"`
	App        *string  `pulumi:"app,optional"`
	Gate       *bool    `pulumi:"gate,optional"`
}

// Annotate documents a source.
func (s *PipelineSource) Annotate(a infer.Annotator) {
	a.SetToken("index", "PipelineSource")
	a.Describe(&s.Name, "Source name (also the directory a `get` of it fills).")
	a.Describe(&s.Type, "`git`, `semver`, `time` or `app_release`.")
	a.Describe(&s.CheckEvery, "How often the source is polled (default 1m); a POST to its webhook checks it at once.")
	a.Describe(&s.Uri, "git: anything `git fetch` takes, local paths included.")
	a.Describe(&s.Branch, "git: the branch (default `main`).")
	a.Describe(&s.Paths, "git: only commits touching these paths count.")
	a.Describe(&s.Initial, "semver: the first version (default 0.0.0).")
	a.Describe(&s.Interval, "time: a new version every interval.")
	a.Describe(&s.App, "app_release: the app of the pipeline's space whose healthy releases are versions.")
	a.Describe(&s.Gate, "app_release: the jobs that get this source gate the app: a release becomes its last good release "+
		"only when every such job passed it.")
}

// PipelineJob is a sequence of steps run as one build.
type PipelineJob struct {
	Name        string         `pulumi:"name"`
	Serial      *bool          `pulumi:"serial,optional"`
	MaxInFlight *int           `pulumi:"maxInFlight,optional"`
	Steps       []PipelineStep `pulumi:"steps"`
	OnSuccess   *PipelineStep  `pulumi:"onSuccess,optional"`
	OnFailure   *PipelineStep  `pulumi:"onFailure,optional"`
	Ensure      *PipelineStep  `pulumi:"ensure,optional"`
}

// Annotate documents a job.
func (j *PipelineJob) Annotate(a infer.Annotator) {
	a.SetToken("index", "PipelineJob")
	a.Describe(&j.Name, "Job name (what `passed` names).")
	a.Describe(&j.Serial, "One build at a time.")
	a.Describe(&j.MaxInFlight, "Builds at once (default unlimited; serial = 1).")
	a.Describe(&j.Steps, "The job's steps, in order (the job's plan).")
	a.Describe(&j.OnSuccess, "A step run when the job succeeds.")
	a.Describe(&j.OnFailure, "A step run when the job fails.")
	a.Describe(&j.Ensure, "A step run whatever the outcome.")
}

// PipelineStep is one step: exactly one of get, task, deploy, assert, put,
// environment, inParallel or try, with optional hooks of its own.
type PipelineStep struct {
	Get     *string  `pulumi:"get,optional"`
	Trigger *bool    `pulumi:"trigger,optional"`
	Passed  []string `pulumi:"passed,optional"`
	Version *string  `pulumi:"version,optional"`

	Task     *string           `pulumi:"task,optional"`
	Run      *string           `pulumi:"run,optional"`
	Dir      *string           `pulumi:"dir,optional"`
	Env      map[string]string `pulumi:"env,optional"`
	Inputs   []string          `pulumi:"inputs,optional"`
	Outputs  []string          `pulumi:"outputs,optional"`
	Timeout  *string           `pulumi:"timeout,optional"`
	Attempts *int              `pulumi:"attempts,optional"`

	Deploy *string `pulumi:"deploy,optional"`
	From   *string `pulumi:"from,optional"`

	Assert  *string               `pulumi:"assert,optional"`
	Http    *PipelineHttpAssert   `pulumi:"http,optional"`
	Command *string               `pulumi:"command,optional"`
	Backup  *PipelineBackupAssert `pulumi:"backup,optional"`

	Environment *string `pulumi:"environment,optional"`
	FromSpace   *string `pulumi:"fromSpace,optional"`
	App         *string `pulumi:"app,optional"`
	Source      *string `pulumi:"source,optional"`
	Ttl         *string `pulumi:"ttl,optional"`

	Put  *string `pulumi:"put,optional"`
	Bump *string `pulumi:"bump,optional"`

	InParallel []PipelineStep `pulumi:"inParallel,optional"`
	Try        *PipelineStep  `pulumi:"try,optional"`

	OnSuccess *PipelineStep `pulumi:"onSuccess,optional"`
	OnFailure *PipelineStep `pulumi:"onFailure,optional"`
	Ensure    *PipelineStep `pulumi:"ensure,optional"`
}

// Annotate documents a step.
func (s *PipelineStep) Annotate(a infer.Annotator) {
	a.SetToken("index", "PipelineStep")
	a.Describe(&s.Get, "get: a source whose version is fetched into a directory of the same name.")
	a.Describe(&s.Trigger, "get: a new version starts a build.")
	a.Describe(&s.Passed, "get: only versions that passed all these jobs.")
	a.Describe(&s.Version, "get: `latest` (default), `every` or a pinned version.")
	a.Describe(&s.Task, "task: its name.")
	a.Describe(&s.Run, "task: the shell command.")
	a.Describe(&s.Dir, "task: working directory (a get or an output).")
	a.Describe(&s.Env, "task: environment.")
	a.Describe(&s.Inputs, "task: directories it reads (default: all).")
	a.Describe(&s.Outputs, "task: directories it makes for later steps.")
	a.Describe(&s.Timeout, "task: time limit.")
	a.Describe(&s.Attempts, "task: tries before failing (default 1).")
	a.Describe(&s.Deploy, "deploy: an app of the pipeline's space; the step pushes `from` to it and waits for the rollout.")
	a.Describe(&s.From, "deploy: the directory (a get or a task output) to push.")
	a.Describe(&s.Assert, "assert: its name; exactly one of `http`, `command` or `backup` says what must hold.")
	a.Describe(&s.Http, "assert: a URL that must answer.")
	a.Describe(&s.Command, "assert: a command that must pass.")
	a.Describe(&s.Backup, "assert: a backup newer than an app's running release must exist.")
	a.Describe(&s.Environment, "environment: name prefix of a preview environment made for the build (destroyed when the job "+
		"succeeds, kept until its ttl when it fails); asserts reach its apps with `http.url = \"env:APP/path\"`.")
	a.Describe(&s.FromSpace, "environment: the space it clones.")
	a.Describe(&s.App, "environment: the app of the clone that runs `source`.")
	a.Describe(&s.Source, "environment: the directory (a get or a task output) the app runs.")
	a.Describe(&s.Ttl, "environment: how long it lives (1s to 720h).")
	a.Describe(&s.Put, "put: a semver source to bump.")
	a.Describe(&s.Bump, "put: `major`, `minor` or `patch`.")
	a.Describe(&s.InParallel, "Steps run at once.")
	a.Describe(&s.Try, "A step whose failure does not fail the job.")
	a.Describe(&s.OnSuccess, "A step run when this one succeeds.")
	a.Describe(&s.OnFailure, "A step run when this one fails.")
	a.Describe(&s.Ensure, "A step run whatever this one's outcome.")
}

// PipelineHttpAssert is an assert that a URL answers.
type PipelineHttpAssert struct {
	Url        string  `pulumi:"url"`
	Host       *string `pulumi:"host,optional"`
	Status     *int    `pulumi:"status,optional"`
	Contains   *string `pulumi:"contains,optional"`
	MaxLatency *string `pulumi:"maxLatency,optional"`
}

// Annotate documents an http assert.
func (h *PipelineHttpAssert) Annotate(a infer.Annotator) {
	a.SetToken("index", "PipelineHttpAssert")
	a.Describe(&h.Url, "The URL; `router:/path` goes through the cell's router, `env:APP/path` to an app of the build's environment.")
	a.Describe(&h.Host, "Host header (an app's route, with `router:`).")
	a.Describe(&h.Status, "Expected status (default 200).")
	a.Describe(&h.Contains, "Text the body must contain.")
	a.Describe(&h.MaxLatency, "The answer must come within this.")
}

// PipelineBackupAssert is an assert that a backup newer than an app's
// running release exists.
type PipelineBackupAssert struct {
	Path string `pulumi:"path"`
	App  string `pulumi:"app"`
}

// Annotate documents a backup assert.
func (b *PipelineBackupAssert) Annotate(a infer.Annotator) {
	a.SetToken("index", "PipelineBackupAssert")
	a.Describe(&b.Path, "A directory on the cell's host that must hold a file modified after the app's running release was cut.")
	a.Describe(&b.App, "The app (of the pipeline's space) whose release the backup must be newer than.")
}

// PipelineState is a pipeline's outputs: the pipeline as the cell has it
// (never with webhookSecrets) and where to tell each source to check now.
type PipelineState struct {
	PipelineSettings
	WebhookPaths map[string]string `pulumi:"webhookPaths"`
}

// Annotate documents the outputs.
func (s *PipelineState) Annotate(a infer.Annotator) {
	a.Describe(&s.WebhookPaths, "Per source: the path of the cell's API to POST (with the source's secret in `X-Paved-Webhook-Token`) to check it now.")
}
