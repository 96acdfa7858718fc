// Package api is the cell's HTTP/JSON API under /v1: bearer-token auth,
// strict JSON decoding, errors as {"error":{"code","message","field"}},
// ETags on reads, If-Match on writes and idempotency keys on creates.
package api

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/environment"
	"github.com/pavedroad/terraform-provider-paved/internal/logbuf"
	"github.com/pavedroad/terraform-provider-paved/internal/stager"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Deployer is what the API needs of the deployer.
type Deployer interface {
	Notify(space, name string)
	Instances(space, name string) []paved.InstanceStatus
	Counts() (instances, healthy int)
}

// Options configure the API.
type Options struct {
	Store          store.Store
	Deployer       Deployer
	Stager         *stager.Stager
	Logs           *logbuf.Buffer
	Logger         *slog.Logger
	Token          string // the admin bearer token
	Region, Cloud  string
	Version        string
	RouterAddr     string
	MaxSourceBytes int64                 // upload cap; default 256 MiB
	MemoryLimits   func() (bool, string) // whether memory_mb is enforced, and why not
	Pipelines      PipelineEngine
	Environments   *environment.Manager
	NewToken       func() string // makes webhook tokens
	GlobalRoutes   GlobalRoutes  // told when replica-set records change
}

// Server serves the API.
type Server struct {
	Options
	log     *slog.Logger
	started time.Time
	mux     *http.ServeMux
}

// maxJSONBody caps every JSON request body.
const maxJSONBody = 1 << 20

// New builds the API handler.
func New(opts Options) *Server {
	if opts.MaxSourceBytes == 0 {
		opts.MaxSourceBytes = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{Options: opts, log: opts.Logger, started: time.Now(), mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	h("GET /v1/health", s.health)

	h("GET /v1/spaces", s.listSpaces)
	h("POST /v1/spaces", s.createSpace)
	h("GET /v1/spaces/{space}", s.getSpace)
	h("PUT /v1/spaces/{space}", s.updateSpace)
	h("DELETE /v1/spaces/{space}", s.deleteSpace)

	h("GET /v1/apps", s.listAllApps)
	h("GET /v1/spaces/{space}/apps", s.listApps)
	h("POST /v1/spaces/{space}/apps", s.createApp)
	h("GET /v1/spaces/{space}/apps/{app}", s.getApp)
	h("PUT /v1/spaces/{space}/apps/{app}", s.updateApp)
	h("DELETE /v1/spaces/{space}/apps/{app}", s.deleteApp)
	h("GET /v1/spaces/{space}/apps/{app}/releases", s.listReleases)
	h("GET /v1/spaces/{space}/apps/{app}/builds", s.listBuilds)
	h("GET /v1/spaces/{space}/apps/{app}/builds/{id}", s.getBuild)
	h("GET /v1/spaces/{space}/apps/{app}/builds/{id}/log", s.buildLog)
	h("GET /v1/spaces/{space}/apps/{app}/logs", s.appLogs)
	h("GET /v1/spaces/{space}/apps/{app}/deployments", s.listDeployments)
	h("POST /v1/spaces/{space}/apps/{app}/rollback", s.rollback)
	h("GET /v1/deployments/{id}", s.getDeployment)

	h("GET /v1/spaces/{space}/pipelines", s.listPipelines)
	h("GET /v1/spaces/{space}/pipelines/{pipeline}", s.getPipeline)
	h("PUT /v1/spaces/{space}/pipelines/{pipeline}", s.setPipeline)
	h("DELETE /v1/spaces/{space}/pipelines/{pipeline}", s.deletePipeline)
	h("POST /v1/spaces/{space}/pipelines/{pipeline}/sources/{source}/check", s.checkSource)
	h("GET /v1/spaces/{space}/pipelines/{pipeline}/sources/{source}/versions", s.listVersions)
	h("GET /v1/spaces/{space}/pipelines/{pipeline}/builds", s.listJobBuilds)
	h("GET /v1/spaces/{space}/pipelines/{pipeline}/jobs/{job}/builds", s.listJobBuilds)
	h("GET /v1/spaces/{space}/pipelines/{pipeline}/timings", s.timings)
	h("GET /v1/job-builds/{id}", s.getJobBuild)
	h("GET /v1/job-builds/{id}/log", s.jobBuildLog)

	h("GET /v1/environments", s.listEnvironments)
	h("POST /v1/environments", s.createEnvironment)
	h("GET /v1/environments/{name}", s.getEnvironment)
	h("DELETE /v1/environments/{name}", s.deleteEnvironment)
	h("GET /v1/spaces/{space}/snapshots", s.listSnapshots)
	h("POST /v1/spaces/{space}/restore", s.restore)

	h("HEAD /v1/sources/{digest}", s.headSource)
	h("GET /v1/sources/{digest}", s.headSource)
	h("PUT /v1/sources/{digest}", s.putSource)

	h("GET /v1/replica-sets", s.listReplicaSets)
	h("GET /v1/replica-sets/{name}", s.getReplicaSet)
	h("PUT /v1/replica-sets/{name}", s.putReplicaSet)
	h("DELETE /v1/replica-sets/{name}", s.deleteReplicaSet)

	h("GET /v1/events", s.listEvents)
	h("/", func(w http.ResponseWriter, r *http.Request) error {
		return notFound("no API endpoint %s %s; see /v1/health", r.Method, r.URL.Path)
	})
}

// ServeHTTP authenticates, caps bodies and recovers from panics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			s.writeError(w, r, newError(http.StatusInternalServerError, paved.CodeInternal, "", "internal error"))
		}
	}()
	// Health is public; a webhook carries its own token instead of a bearer token.
	if r.URL.Path != "/v1/health" && !webhookCall(r) {
		if err := s.authenticate(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paved"`)
			s.writeError(w, r, err)
			return
		}
	}
	if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/v1/sources/") {
		r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authenticate(r *http.Request) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		return newError(http.StatusUnauthorized, paved.CodeUnauthorized, "", "this request needs a token: send Authorization: Bearer <token> (PAVED_TOKEN)")
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.Token)) != 1 {
		return newError(http.StatusUnauthorized, paved.CodeUnauthorized, "", "the token is not valid for this cell")
	}
	return nil
}

// actor names who made a change, for the audit trail.
func actor(*http.Request) string { return "admin" }

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	h := paved.CellHealth{
		Status: "ok", Region: s.Region, Cloud: s.Cloud, Version: s.Version,
		StartedAt: s.started.UTC(), UptimeSeconds: time.Since(s.started).Seconds(), RouterAddr: s.RouterAddr,
	}
	c, err := s.Store.Counts(r.Context())
	if err != nil {
		return err
	}
	h.Counts.Spaces, h.Counts.Apps = c.Spaces, c.Apps
	h.Counts.Instances, h.Counts.HealthyInstances = s.Deployer.Counts()
	if s.MemoryLimits != nil {
		h.MemoryLimitsEnforced, h.MemoryLimitsReason = s.MemoryLimits()
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// webhookCall tells whether a request authenticates with a source's webhook
// token instead of a bearer token. A request that sends both is
// authenticated as a bearer request, so a bad bearer token is always refused.
func webhookCall(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get(WebhookHeader) != "" && r.Header.Get("Authorization") == "" &&
		strings.HasSuffix(r.URL.Path, "/check")
}
