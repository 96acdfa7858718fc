// Package authz decides what a token's role may do with the API. It is
// pure: a principal, a method and a path in, a decision out; no I/O, so the
// whole table can be tested (and read) in one place.
//
// The roles follow Cloud Foundry's and Concourse's:
//
//   - admin: everything.
//   - space_auditor(S): reads (GET, HEAD) of space S and of everything under
//     /v1/spaces/S/.
//   - space_developer(S): everything under /v1/spaces/S/ (apps, releases,
//     builds, rollbacks, pipelines, restores), reads of the space itself, and
//     the content-addressed uploads under /v1/sources/.
//   - pipeline_operator(S): reads under S, and writes (PUT, DELETE, POST) of
//     /v1/spaces/S/pipelines/…; no write to apps.
//
// Every scoped role may read the marketplace (/v1/service-offerings); only
// space developers read a service binding's credentials. Cell-wide
// endpoints (the space list, /v1/apps, /v1/events, /v1/environments,
// /v1/replica-sets, /v1/tokens, /v1/service-brokers) and anything not
// listed here are admin only. Objects addressed by ID (/v1/deployments/{id},
// /v1/job-builds/{id}) pass Decide for any space role's reads; the handler
// then checks the object's space with CheckSpace.
package authz

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Role is what a token may do: the API's paved.Role, whose Scoped says
// whether it is limited to one space.
type Role = paved.Role

// The roles, by shorter names.
const (
	Admin            = paved.RoleAdmin
	SpaceDeveloper   = paved.RoleSpaceDeveloper
	SpaceAuditor     = paved.RoleSpaceAuditor
	PipelineOperator = paved.RolePipelineOperator
)

// Principal is who a request acts as: the cell's admin token or a token.
type Principal struct {
	ID    string // "admin" for the cell's own admin token, else the token's id
	Name  string
	Role  Role
	Space string // the space of a scoped role
}

// String names the principal and its role for messages.
func (p Principal) String() string {
	if p.Role.Scoped() {
		return fmt.Sprintf("a %s token of space %q", p.Role, p.Space)
	}
	return fmt.Sprintf("a %s token", p.Role)
}

// Denied is a refusal: Message is one sentence naming the role and what it
// may not do. The API answers it with 403 forbidden.
type Denied struct {
	Message string
}

func (d *Denied) Error() string { return d.Message }

func deny(format string, args ...any) error {
	return &Denied{Message: fmt.Sprintf(format, args...)}
}

func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }

// Decide tells whether p may send method to path; nil means allowed.
// path is the request's escaped path (r.URL.EscapedPath()): it is split at
// "/" and each segment unescaped, the way http.ServeMux matches patterns,
// so a %2F inside a segment can never move a request into another space.
func Decide(p Principal, method, path string) error {
	if p.Role == Admin {
		return nil
	}
	if !p.Role.Scoped() {
		return deny("a token with role %q may do nothing: the roles are admin, space_developer, space_auditor and pipeline_operator", p.Role)
	}
	if p.Space == "" {
		return deny("%s is not bound to a space and may do nothing", p)
	}
	shown := clip(path, 256) // messages name the path; keep them short
	segs, ok := split(path)
	if !ok {
		return deny("%s may only use canonical API paths under /v1/, not %s", p, shown)
	}
	what := method + " " + shown
	switch {
	case len(segs) == 1 && segs[0] == "health":
		return nil

	case segs[0] == "spaces" && len(segs) >= 2:
		if segs[1] != p.Space {
			return deny("%s may not reach space %q: it is limited to its own space (%s)", p, clip(segs[1], 64), what)
		}
		if len(segs) == 2 { // the space itself
			if isRead(method) {
				return nil
			}
			return deny("%s may read its space but not change or delete it (%s); that takes an admin token", p, what)
		}
		if len(segs) == 5 && segs[2] == "service-bindings" && segs[4] == "credentials" && p.Role != SpaceDeveloper {
			return deny("%s may not read a service binding's credentials (%s): that takes a space developer or admin token", p, what)
		}
		switch p.Role {
		case SpaceDeveloper:
			return nil
		case SpaceAuditor:
			if isRead(method) {
				return nil
			}
			return deny("%s may only read (GET, HEAD), not %s", p, what)
		case PipelineOperator:
			if isRead(method) {
				return nil
			}
			if segs[2] == "pipelines" && (method == http.MethodPut || method == http.MethodDelete || method == http.MethodPost) {
				return nil
			}
			return deny("%s may read its space and set, delete or check its pipelines, but not %s", p, what)
		}

	case segs[0] == "service-offerings" && len(segs) == 1:
		// The marketplace is what every space may choose from.
		if isRead(method) {
			return nil
		}
		return deny("%s may only read the service offerings, not %s", p, what)

	case segs[0] == "sources" && len(segs) == 2:
		if p.Role == SpaceDeveloper && (isRead(method) || method == http.MethodPut) {
			return nil
		}
		if p.Role == SpaceDeveloper {
			return deny("%s may only look up (HEAD, GET) and upload (PUT) sources, not %s", p, what)
		}
		return deny("%s may not use sources (%s): uploading is for space developers", p, what)

	case segs[0] == "deployments" && len(segs) == 2,
		segs[0] == "job-builds" && (len(segs) == 2 || len(segs) == 3 && segs[2] == "log"):
		// The object's space is checked by the handler (CheckSpace).
		if isRead(method) {
			return nil
		}
		return deny("%s may not %s", p, what)
	}
	return deny("%s may not use %s: it is a cell-wide endpoint, for admin tokens only", p, what)
}

// CheckSpace tells whether p may read an object of space (an object the
// path named by ID, such as a deployment or a pipeline build).
func CheckSpace(p Principal, space, what string) error {
	if p.Role == Admin || (p.Role.Scoped() && p.Space != "" && p.Space == space) {
		return nil
	}
	return deny("%s may not read %s: it belongs to space %q", p, what, space)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// split turns "/v1/a/b%2Fc" into ["a", "b/c"]. It refuses what is not
// under /v1/ or not canonical (empty, "." or ".." segments, bad escapes):
// http.ServeMux would redirect those elsewhere, so a scoped token gets a
// refusal instead.
func split(path string) ([]string, bool) {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok || rest == "" {
		return nil, false
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" || u == "." || u == ".." || s == "." || s == ".." {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}
