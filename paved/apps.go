package paved

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Health check types.
const (
	HealthHTTP    = "http"
	HealthTCP     = "tcp"
	HealthProcess = "process"
)

// HealthCheck says how the cell decides an instance may receive traffic.
type HealthCheck struct {
	Type     string   `json:"type"`               // http, tcp or process
	Path     string   `json:"path,omitempty"`     // for http; default "/"
	Interval Duration `json:"interval,omitempty"` // default 2s
	Timeout  Duration `json:"timeout,omitempty"`  // default 1s
	// Grace is how long a new instance may take before failing checks
	// counts against it (slow starts are not crashes). Default 60s.
	Grace Duration `json:"grace,omitempty"`
}

// Route is a host and optional path prefix served by the router.
type Route struct {
	Host string `json:"host"`
	Path string `json:"path,omitempty"`
}

// String renders the route as HOST or HOST/PATH.
func (r Route) String() string {
	if r.Path == "" || r.Path == "/" {
		return r.Host
	}
	return r.Host + r.Path
}

// AppSpec is everything a user declares about an app. Changing the source,
// build, command, env, memory or health check makes a new release; changing
// instances or routes applies to the running release.
type AppSpec struct {
	Name      string            `json:"name"`
	Source    string            `json:"source,omitempty"` // sha256 hex of an uploaded archive
	Build     string            `json:"build,omitempty"`  // shell command run in the unpacked source
	Command   string            `json:"command"`          // shell command that starts one instance
	Instances int               `json:"instances"`        // 0 = staged but stopped
	Env       map[string]string `json:"env,omitempty"`
	// SecretEnv is added to the instances' environment but never returned
	// by the API (reads list SecretEnvKeys). On update, nil keeps the
	// secrets the cell has; an empty map removes them.
	SecretEnv   map[string]string `json:"secret_env,omitzero"` // omitzero: an empty map is sent
	MemoryMB    int               `json:"memory_mb,omitempty"`
	HealthCheck *HealthCheck      `json:"health_check,omitempty"`
	Routes      []Route           `json:"routes,omitempty"`
	// Deployment says how new releases roll out (default: rolling, 25% at a time).
	Deployment *DeploymentSpec `json:"deployment,omitempty"`
}

// App statuses.
const (
	AppPending   = "pending"   // accepted, nothing built yet
	AppStaging   = "staging"   // building the source
	AppDeploying = "deploying" // rolling a new release out
	AppRunning   = "running"   // every instance healthy
	AppDegraded  = "degraded"  // some instances not healthy
	AppCrashing  = "crashing"  // instances exit and are being restarted
	AppStopped   = "stopped"   // instances = 0
	AppFailed    = "failed"    // the newest change could not be built or rolled out
)

// Instance states as reported by the cell.
const (
	InstanceStarting = "starting"
	InstanceRunning  = "running"
	InstanceCrashed  = "crashed"
	InstanceStopping = "stopping"
)

// InstanceStatus is one running (or restarting) copy of an app.
type InstanceStatus struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Healthy  bool   `json:"healthy"`
	Role     string `json:"role,omitempty"` // active, canary or standby (not routed)
	Release  int    `json:"release"`
	Crashes  int    `json:"crashes"`
	LastExit string `json:"last_exit,omitempty"`
	PID      int    `json:"pid,omitempty"`
	Port     int    `json:"port,omitempty"`
	// Host is the instance's address when it is not the cell's loopback
	// (a pod's IP on a Kubernetes-backed cell).
	Host      string    `json:"host,omitempty"`
	StartedAt time.Time `json:"started_at,omitempty"`
}

// App is an app as the cell knows it: the spec plus what is really running.
type App struct {
	AppSpec
	Space string `json:"space"`
	// SecretEnvKeys names the secret env vars; their values are never returned.
	SecretEnvKeys []string `json:"secret_env_keys,omitempty"`

	Status           string           `json:"status"`
	Message          string           `json:"message,omitempty"`           // why, when not running
	Release          int              `json:"release"`                     // the release instances run
	LastGoodRelease  int              `json:"last_good_release"`           // the newest release that rolled out healthy
	ActiveDeployment int64            `json:"active_deployment,omitempty"` // the deployment in progress
	Droplet          string           `json:"droplet,omitempty"`
	RunningCount     int              `json:"running_instances"`
	InstanceStates   []InstanceStatus `json:"instance_states"`
	// Generation counts spec changes; ObservedGeneration is the newest one
	// the cell has acted on completely (built and rolled out, or failed).
	Generation         int64     `json:"generation"`
	ObservedGeneration int64     `json:"observed_generation"`
	Version            int64     `json:"version"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// Settled reports whether the cell has finished acting on the newest spec:
// the app is running, stopped, crashing or failed at its newest generation.
func (a *App) Settled() bool {
	if a.ObservedGeneration < a.Generation {
		return false
	}
	switch a.Status {
	case AppRunning, AppStopped, AppFailed, AppCrashing, AppDegraded:
		return true
	}
	return false
}

// SpecConfig is the release-bound settings of the app's spec (what its
// next release will freeze).
func (a *App) SpecConfig() ReleaseConfig {
	return ReleaseConfig{Droplet: a.Droplet, Source: a.Source, Build: a.Build, Command: a.Command, Env: a.Env,
		MemoryMB: a.MemoryMB, HealthCheck: a.HealthCheck}
}

// URLs are the app's routes as the router serves them, one
// "http://HOST/PATH" each (send them to the cell's router).
func (a *App) URLs() []string {
	urls := make([]string, 0, len(a.Routes))
	for _, r := range a.Routes {
		path := r.Path
		if path == "" {
			path = "/"
		}
		urls = append(urls, "http://"+r.Host+path)
	}
	return urls
}

// Apps is the apps API.
type Apps interface {
	List(ctx context.Context, opts ListAppsOptions) ([]App, error)
	Get(ctx context.Context, space, name string) (*App, error)
	Create(ctx context.Context, space string, spec AppSpec, opts ...WriteOption) (*App, error)
	Update(ctx context.Context, space string, spec AppSpec, opts ...WriteOption) (*App, error)
	Delete(ctx context.Context, space, name string, opts ...WriteOption) error
	// Rollback redeploys an earlier release (0 = the newest earlier good
	// one) with the app's strategy; the app's spec takes that release's settings.
	Rollback(ctx context.Context, space, name string, to int) (*App, error)
	// Wait polls until the app has settled at its newest generation (see
	// App.Settled) and returns it; progress, when set, sees every poll.
	Wait(ctx context.Context, space, name string, progress func(*App)) (*App, error)
}

// ListAppsOptions filters List. An empty Space lists every space.
type ListAppsOptions struct {
	Space string
}

type apps struct{ c *Client }

var _ Apps = apps{}

func appsPath(space string) string { return spacePath(space) + "/apps" }
func appPath(space, name string) string {
	return appsPath(space) + "/" + url.PathEscape(name)
}

func (s apps) List(ctx context.Context, opts ListAppsOptions) ([]App, error) {
	path := "/v1/apps"
	if opts.Space != "" {
		path = appsPath(opts.Space)
	}
	var out struct {
		Apps []App `json:"apps"`
	}
	err := s.c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Apps, err
}

func (s apps) Get(ctx context.Context, space, name string) (*App, error) {
	var out App
	if err := s.c.do(ctx, http.MethodGet, appPath(space, name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s apps) Create(ctx context.Context, space string, spec AppSpec, opts ...WriteOption) (*App, error) {
	var out App
	if err := s.c.do(ctx, http.MethodPost, appsPath(space), spec, &out, opts...); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s apps) Update(ctx context.Context, space string, spec AppSpec, opts ...WriteOption) (*App, error) {
	var out App
	if err := s.c.do(ctx, http.MethodPut, appPath(space, spec.Name), spec, &out, opts...); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s apps) Delete(ctx context.Context, space, name string, opts ...WriteOption) error {
	return s.c.do(ctx, http.MethodDelete, appPath(space, name), nil, nil, opts...)
}

func (s apps) Wait(ctx context.Context, space, name string, progress func(*App)) (*App, error) {
	t := time.NewTicker(s.c.pollInterval)
	defer t.Stop()
	for {
		a, err := s.Get(ctx, space, name)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(a)
		}
		if a.Settled() {
			return a, nil
		}
		select {
		case <-ctx.Done():
			return a, ctx.Err()
		case <-t.C:
		}
	}
}

func (s apps) Rollback(ctx context.Context, space, name string, to int) (*App, error) {
	var out App
	body := map[string]int{}
	if to > 0 {
		body["to"] = to
	}
	if err := s.c.do(ctx, http.MethodPost, appPath(space, name)+"/rollback", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
