// Package api is the cell's HTTP/JSON API under /v1: bearer-token auth
// with roles (internal/authz), per-token rate limits, strict JSON decoding,
// errors as {"error":{"code","message","field"}}, ETags on reads, If-Match
// on writes and idempotency keys on creates.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/authz"
	"github.com/pavedroad/terraform-provider-paved/internal/dropletfetch"
	"github.com/pavedroad/terraform-provider-paved/internal/environment"
	"github.com/pavedroad/terraform-provider-paved/internal/logbuf"
	"github.com/pavedroad/terraform-provider-paved/internal/services"
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
	Token          string // the admin bearer token (role admin); tokens of other roles are in the store
	Region, Cloud  string
	Version        string
	RouterAddr     string
	TLS            bool                   // the API and router listeners speak HTTPS only (shown in /v1/health)
	MaxSourceBytes int64                  // upload cap; default 256 MiB
	MemoryLimits   func() (bool, string)  // whether memory_mb is enforced, and why not
	Isolation      func() paved.Isolation // what keeps apps apart, for /v1/health
	// Runtime describes where instances run, for /v1/health.
	Runtime func(ctx context.Context) paved.RuntimeInfo
	// Droplets serves droplet archives to pods holding a droplet token
	// (GET /v1/droplets/{digest}/archive); nil: the endpoint is 404.
	Droplets  *dropletfetch.Archives
	Pipelines PipelineEngine
	// Services are the cell's backing services; nil: their endpoints are 404.
	Services     *services.Manager
	Environments *environment.Manager
	NewToken     func() string // makes webhook tokens
	GlobalRoutes GlobalRoutes  // told when replica-set records change
	// RateLimit is the requests a second each token (the admin token too)
	// may send, with a burst of twice that; 0 means no limit. (paved
	// server's --rate-limit defaults to 200.)
	RateLimit float64
}

// Server serves the API.
type Server struct {
	Options
	log       *slog.Logger
	started   time.Time
	mux       *http.ServeMux
	limits    *rateLimiter // nil: no limit
	authFails *authBackoff
	now       func() time.Time
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
	s := &Server{Options: opts, log: opts.Logger, started: time.Now(), mux: http.NewServeMux(),
		limits: newRateLimiter(opts.RateLimit), authFails: newAuthBackoff(), now: time.Now}
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
	h("GET /v1/droplets/{digest}/archive", s.dropletArchive)

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

	h("GET /v1/service-brokers", s.listServiceBrokers)
	h("GET /v1/service-brokers/{name}", s.getServiceBroker)
	h("PUT /v1/service-brokers/{name}", s.putServiceBroker)
	h("DELETE /v1/service-brokers/{name}", s.deleteServiceBroker)
	h("GET /v1/service-offerings", s.listServiceOfferings)
	h("GET /v1/spaces/{space}/service-instances", s.listServiceInstances)
	h("POST /v1/spaces/{space}/service-instances", s.createServiceInstance)
	h("GET /v1/spaces/{space}/service-instances/{name}", s.getServiceInstance)
	h("PUT /v1/spaces/{space}/service-instances/{name}", s.updateServiceInstance)
	h("DELETE /v1/spaces/{space}/service-instances/{name}", s.deleteServiceInstance)
	h("GET /v1/spaces/{space}/service-bindings", s.listServiceBindings)
	h("POST /v1/spaces/{space}/service-bindings", s.createServiceBinding)
	h("GET /v1/spaces/{space}/service-bindings/{name}", s.getServiceBinding)
	h("DELETE /v1/spaces/{space}/service-bindings/{name}", s.deleteServiceBinding)
	h("GET /v1/spaces/{space}/service-bindings/{name}/credentials", s.serviceBindingCredentials)

	h("GET /v1/events", s.listEvents)

	h("GET /v1/tokens", s.listTokens)
	h("POST /v1/tokens", s.createToken)
	h("GET /v1/tokens/{id}", s.getToken)
	h("DELETE /v1/tokens/{id}", s.revokeToken)
	h("POST /v1/tokens/{id}/renew", s.renewToken)
	h("/", func(w http.ResponseWriter, r *http.Request) error {
		return notFound("no API endpoint %s %s; see /v1/health", r.Method, r.URL.Path)
	})
}

// ServeHTTP authenticates, authorizes, rate-limits, caps bodies and
// recovers from panics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			s.writeError(w, r, newError(http.StatusInternalServerError, paved.CodeInternal, "", "internal error"))
		}
	}()
	// Health is public; a webhook carries its own token instead of a bearer
	// token (checked by its handler, under the same backoff).
	switch {
	case r.URL.Path == "/v1/health":
	case dropletCall(r):
		// A droplet token opens one droplet archive and nothing else; its
		// handler checks it, under the same backoff as bearer tokens.
		if wait, blocked := s.authFails.blocked(clientIP(r), s.now()); blocked {
			s.writeError(w, r, tooManyRequests(w, wait, "too many failed authentication attempts from %s", clientIP(r)))
			return
		}
	case webhookCall(r):
		if wait, blocked := s.authFails.blocked(clientIP(r), s.now()); blocked {
			s.writeError(w, r, tooManyRequests(w, wait, "too many failed authentication attempts from %s", clientIP(r)))
			return
		}
	default:
		p, err := s.authorize(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	}
	if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/v1/sources/") {
		r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	}
	s.mux.ServeHTTP(w, r)
}

// authorize finds who the request acts as and checks, in this order: the
// client address is not backing off after failed authentications (429),
// the token is valid, not revoked and not expired (401), the token is within its rate
// limit (429), and its role allows the request (403, recorded as an
// auth.deny event).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (authz.Principal, error) {
	now := s.now()
	ip := clientIP(r)
	if wait, blocked := s.authFails.blocked(ip, now); blocked {
		return authz.Principal{}, tooManyRequests(w, wait, "too many failed authentication attempts from %s", ip)
	}
	p, err := s.authenticate(r)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paved"`)
			if r.Header.Get("Authorization") != "" { // a wrong guess, not a forgotten token
				s.authFails.failed(ip, now)
				s.appendEvent(r, paved.Event{Actor: "anonymous", Action: "auth.fail", Object: "client/" + ip,
					Detail: requestLine(r) + ": " + ae.body.Message})
			}
		}
		return p, err
	}
	s.authFails.succeeded(ip)
	if ok, wait := s.limits.allow(p.ID, now); !ok {
		return p, tooManyRequests(w, wait, "%s sends more than its %g requests a second", p, s.RateLimit)
	}
	if err := authz.Decide(p, r.Method, r.URL.EscapedPath()); err != nil {
		return p, s.deny(r, p, err)
	}
	return p, nil
}

// authenticate finds the principal of the request's bearer token: the
// cell's admin token (compared in constant time) or a stored token, looked
// up by the sha256 of the secret on every request, so a revoke (or the end
// of the token's lifetime) takes effect at once.
func (s *Server) authenticate(r *http.Request) (authz.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return authz.Principal{}, newError(http.StatusUnauthorized, paved.CodeUnauthorized, "", "this request needs a token: send Authorization: Bearer <token> (PAVED_TOKEN)")
	}
	invalid := newError(http.StatusUnauthorized, paved.CodeUnauthorized, "", "the token is not valid for this cell")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return authz.Principal{}, invalid
	}
	if s.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.Token)) == 1 {
		return adminPrincipal, nil
	}
	if len(tok) > paved.MaxTokenSecret {
		return authz.Principal{}, invalid
	}
	t, err := s.Store.TokenByHash(r.Context(), hashSecret(tok))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return authz.Principal{}, invalid
	case err != nil:
		return authz.Principal{}, err
	case t.Revoked():
		return authz.Principal{}, newError(http.StatusUnauthorized, paved.CodeUnauthorized, "", "the token %s was revoked", t.ID)
	case t.Expired(s.now()):
		return authz.Principal{}, newError(http.StatusUnauthorized, paved.CodeUnauthorized, "", "the token %s expired at %s", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return authz.Principal{ID: t.ID, Name: t.Name, Role: t.Role, Space: t.Space}, nil
}

// hashSecret is what the store keeps of a token's secret.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// adminPrincipal is the cell's own admin token.
var adminPrincipal = authz.Principal{ID: "admin", Name: "admin", Role: authz.Admin}

type principalKey struct{}

// principal is who the request acts as (the zero Principal for public
// requests and webhooks).
func principal(r *http.Request) authz.Principal {
	p, _ := r.Context().Value(principalKey{}).(authz.Principal)
	return p
}

// actor names who made a change, for the audit trail: "admin" for the
// cell's admin token, else the token's name and id.
func actor(r *http.Request) string { return actorName(principal(r)) }

func actorName(p authz.Principal) string {
	switch {
	case p == adminPrincipal:
		return "admin"
	case p.ID == "":
		return "anonymous"
	}
	return p.Name + " (" + p.ID + ")"
}

// deny records a refusal in the audit trail (auth.deny: who, method, path,
// why) and answers it with 403 forbidden.
func (s *Server) deny(r *http.Request, p authz.Principal, err error) error {
	var d *authz.Denied
	if !errors.As(err, &d) {
		return err
	}
	s.appendEvent(r, paved.Event{Actor: actorName(p), Action: "auth.deny", Object: "token/" + p.ID,
		Detail: requestLine(r) + ": " + d.Message})
	return newError(http.StatusForbidden, paved.CodeForbidden, "", "%s", d.Message)
}

// checkSpace lets the request read an object of space (an object its path
// names by ID), or denies it as deny does.
func (s *Server) checkSpace(r *http.Request, space, what string) error {
	p := principal(r)
	if err := authz.CheckSpace(p, space, what); err != nil {
		return s.deny(r, p, err)
	}
	return nil
}

// requestLine is "METHOD /path" for the audit trail, the path cut at 256
// bytes so a client cannot write large events.
func requestLine(r *http.Request) string {
	path := r.URL.Path
	if len(path) > 256 {
		path = path[:256] + "…"
	}
	return r.Method + " " + path
}

// appendEvent records an event the request's answer does not depend on; a
// failure is logged.
func (s *Server) appendEvent(r *http.Request, e paved.Event) {
	if err := s.Store.AppendEvent(r.Context(), e); err != nil {
		s.log.Error("append event", "action", e.Action, "err", err)
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	h := paved.CellHealth{
		Status: "ok", Region: s.Region, Cloud: s.Cloud, Version: s.Version,
		StartedAt: s.started.UTC(), UptimeSeconds: time.Since(s.started).Seconds(), RouterAddr: s.RouterAddr,
		TLS: s.TLS,
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
	if s.Isolation != nil {
		h.Isolation = s.Isolation()
	}
	if s.Runtime != nil {
		h.Runtime = s.Runtime(r.Context())
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
