package provider

import (
	"github.com/pulumi/pulumi-go-provider/infer"
)

// AppSettings is what a user declares about an app besides its name:
// App and the app of a ReplicaSet share it, as paved_app and the app
// block of paved_replica_set do in Terraform.
type AppSettings struct {
	Source      *string           `pulumi:"source,optional"`
	Build       *string           `pulumi:"build,optional"`
	Command     string            `pulumi:"command"`
	Instances   *int              `pulumi:"instances,optional"`
	Env         map[string]string `pulumi:"env,optional"`
	MemoryMb    *int              `pulumi:"memoryMb,optional"`
	Routes      []string          `pulumi:"routes,optional"`
	HealthCheck *HealthCheck      `pulumi:"healthCheck,optional"`
	Deployment  *Deployment       `pulumi:"deployment,optional"`
}

// Annotate documents the settings.
func (s *AppSettings) Annotate(a infer.Annotator) {
	a.Describe(&s.Source, "A directory (packed reproducibly, skipping `.git` and `.pavedignore` entries), a `.tar.gz` or a `.zip`. "+
		"A change of its content is an in-place update (a new release), never a replacement.")
	a.Describe(&s.Build, "Build command, run in the unpacked source.")
	a.Describe(&s.Command, "Start command of one instance; it must listen on `$PORT`.")
	a.Describe(&s.Instances, "Number of instances (default 1; 0 = staged but stopped).")
	a.SetDefault(&s.Instances, 1)
	a.Describe(&s.Env, "Environment of the instances (and the build).")
	a.Describe(&s.MemoryMb, "Memory limit per instance in MiB (0 = none). Enforced where the cell has cgroup v2.")
	a.Describe(&s.Routes, "Routes served by the router: `\"host\"` or `\"host/path\"`.")
	a.Describe(&s.HealthCheck, "How the cell decides an instance may take traffic (default: the process is up).")
	a.Describe(&s.Deployment, "How a new release rolls out (default: rolling, 25% at a time).")
}

// HealthCheck is an app's health check.
type HealthCheck struct {
	Type     string  `pulumi:"type"`
	Path     *string `pulumi:"path,optional"`
	Interval *string `pulumi:"interval,optional"`
	Timeout  *string `pulumi:"timeout,optional"`
	Grace    *string `pulumi:"grace,optional"`
}

// Annotate documents the health check.
func (h *HealthCheck) Annotate(a infer.Annotator) {
	a.SetToken("index", "HealthCheck")
	a.Describe(&h.Type, "`http`, `tcp` or `process`.")
	a.Describe(&h.Path, "Path of an http check (default `/`).")
	a.Describe(&h.Interval, "Time between checks (default 2s).")
	a.Describe(&h.Timeout, "Time a check may take (default 1s).")
	a.Describe(&h.Grace, "Time a new instance may take to start passing (default 60s).")
}

// Deployment says how a new release rolls out.
type Deployment struct {
	Strategy         *string `pulumi:"strategy,optional"`
	MaxInFlight      *string `pulumi:"maxInFlight,optional"`
	MinHealthyTime   *string `pulumi:"minHealthyTime,optional"`
	ProgressDeadline *string `pulumi:"progressDeadline,optional"`
	AutoRollback     *bool   `pulumi:"autoRollback,optional"`
	DrainTimeout     *string `pulumi:"drainTimeout,optional"`
	KeepOld          *string `pulumi:"keepOld,optional"`
	Canary           *Canary `pulumi:"canary,optional"`
}

// Annotate documents the deployment.
func (d *Deployment) Annotate(a infer.Annotator) {
	a.SetToken("index", "Deployment")
	a.Describe(&d.Strategy, "`rolling` (default), `canary`, `blue_green` or `recreate`.")
	a.Describe(&d.MaxInFlight, "New instances starting at once: a count (`\"2\"`) or a percentage (`\"25%\"`).")
	a.Describe(&d.MinHealthyTime, "How long a new instance must stay healthy before an old one stops.")
	a.Describe(&d.ProgressDeadline, "A rollout making no progress for this long fails (default 10m).")
	a.Describe(&d.AutoRollback, "Roll back by itself when the rollout fails (default true); false stops it where it is.")
	a.Describe(&d.DrainTimeout, "How long a leaving instance may finish in-flight requests (default 10s).")
	a.Describe(&d.KeepOld, "blue_green: how long the old set is kept after the switch.")
	a.Describe(&d.Canary, "Canary steps and their health gate (strategy `canary`).")
}

// Canary is the canary steps of a deployment and their health gate.
type Canary struct {
	Steps        []int    `pulumi:"steps,optional"`
	Watch        *string  `pulumi:"watch,optional"`
	MaxErrorRate *float64 `pulumi:"maxErrorRate,optional"`
	MinRequests  *int     `pulumi:"minRequests,optional"`
}

// Annotate documents the canary.
func (c *Canary) Annotate(a infer.Annotator) {
	a.SetToken("index", "Canary")
	a.Describe(&c.Steps, "Traffic percentages sent to the canary, one step each, e.g. `[10, 50]`.")
	a.Describe(&c.Watch, "How long each step is watched (default 30s).")
	a.Describe(&c.MaxErrorRate, "Highest share of failed canary requests, 0–1 (default 0.05).")
	a.Describe(&c.MinRequests, "Requests a step needs before its error rate counts (default 20).")
}

// AppArgs are an app's inputs.
type AppArgs struct {
	Space string `pulumi:"space" provider:"replaceOnChanges"`
	Name  string `pulumi:"name" provider:"replaceOnChanges"`
	AppSettings
	SecretEnv map[string]string `pulumi:"secretEnv,optional" provider:"secret"`
}

// Annotate documents the inputs.
func (a *AppArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Space, "Space of the app. Changing it replaces the app.")
	an.Describe(&a.Name, "Name: a DNS label. Changing it replaces the app.")
	an.Describe(&a.SecretEnv, "Secret environment variables: a Pulumi secret, sent to the cell and never returned "+
		"(the app's outputs do not hold them). A change of their values is an in-place update.")
}

// AppState is an app's outputs: its settings as the cell runs them (the
// release-bound ones from the release that runs, so a change that was
// rolled back stays pending) and what is really running.
type AppState struct {
	Space string `pulumi:"space"`
	Name  string `pulumi:"name"`
	AppSettings
	SourceHash       *string  `pulumi:"sourceHash,optional"`
	Release          int      `pulumi:"release"`
	LastGoodRelease  int      `pulumi:"lastGoodRelease"`
	Status           string   `pulumi:"status"`
	RunningInstances int      `pulumi:"runningInstances"`
	Urls             []string `pulumi:"urls"`
}

// Annotate documents the outputs.
func (s *AppState) Annotate(a infer.Annotator) {
	a.Describe(&s.Space, "Space of the app.")
	a.Describe(&s.Name, "Name of the app.")
	a.Describe(&s.SourceHash, "sha256 of the packed source the running release was built from.")
	a.Describe(&s.Release, "The release the instances run.")
	a.Describe(&s.LastGoodRelease, "The newest release that rolled out healthy.")
	a.Describe(&s.Status, "running, degraded, crashing, stopped, failed, …")
	a.Describe(&s.RunningInstances, "Instances passing their health check.")
	a.Describe(&s.Urls, "URLs of the routes (send them to the cell's router).")
}
