package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// view renders an app row with its live instances.
func (s *Server) view(a store.App) paved.App {
	out := paved.App{
		AppSpec: a.Spec, Space: a.Space,
		Status: a.State.Status, Message: a.State.Message,
		Release: a.State.Release, LastGoodRelease: a.State.LastGoodRelease, Droplet: a.State.Droplet,
		ActiveDeployment: a.State.Deployment,
		Generation:       a.Generation, ObservedGeneration: a.State.ObservedGeneration,
		Version: a.Version, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
	out.SecretEnv = nil // write-only: reads name the keys, never the values
	for k := range a.Spec.SecretEnv {
		out.SecretEnvKeys = append(out.SecretEnvKeys, k)
	}
	sort.Strings(out.SecretEnvKeys)
	out.InstanceStates = s.Deployer.Instances(a.Space, a.Spec.Name)
	for _, in := range out.InstanceStates {
		if in.Healthy {
			out.RunningCount++
		}
	}
	return out
}

func (s *Server) listAllApps(w http.ResponseWriter, r *http.Request) error {
	return s.writeApps(w, r, "")
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.space(r)
	if err != nil {
		return err
	}
	return s.writeApps(w, r, sp.Name)
}

func (s *Server) writeApps(w http.ResponseWriter, r *http.Request, space string) error {
	apps, err := s.Store.ListApps(r.Context(), space)
	if err != nil {
		return err
	}
	out := make([]paved.App, 0, len(apps))
	for _, a := range apps {
		out = append(out, s.view(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out})
	return nil
}

func (s *Server) app(r *http.Request) (store.App, error) {
	space, name := r.PathValue("space"), r.PathValue("app")
	a, err := s.Store.GetApp(r.Context(), space, name)
	if errors.Is(err, store.ErrNotFound) {
		if _, serr := s.Store.GetSpace(r.Context(), space); errors.Is(serr, store.ErrNotFound) {
			return a, notFound("space %q does not exist", space)
		}
		return a, notFound("app %q does not exist in space %q", name, space)
	}
	return a, err
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) error {
	a, err := s.app(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(a.Version))
	writeJSON(w, http.StatusOK, s.view(a))
	return nil
}

// checkApp runs the checks that need the store: the source exists. Routes
// are claimed by the store in the write itself (a route another app holds
// fails it with store.ErrRouteTaken), so two concurrent writes cannot both
// take one.
func (s *Server) checkApp(r *http.Request, spec paved.AppSpec) error {
	if err := validateApp(spec); err != nil {
		return err
	}
	if spec.Source != "" {
		if _, err := s.Store.GetSource(r.Context(), spec.Source); errors.Is(err, store.ErrNotFound) {
			return invalid("source", "no source archive with sha256 %s has been uploaded to this cell; upload it first (PUT /v1/sources/{sha256})", spec.Source)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// routeTaken is the answer to a write the store refused because another
// app holds one of its routes (or another space the route's host): 409
// route_taken on routes[i]. An app of another space stays unnamed for a
// space-scoped token.
func routeTaken(r *http.Request, rc *store.RouteConflict) *apiError {
	field := fmt.Sprintf("routes[%d]", rc.Index)
	hidden := false
	if p := principal(r); p.Role.Scoped() && rc.Space != p.Space {
		hidden = true
	}
	holder := "app " + rc.Space + "/" + rc.App
	if hidden {
		holder = "an app of another space"
	}
	if rc.Host {
		return newError(http.StatusConflict, paved.CodeRouteTaken, field,
			"host %s is already used by %s; every path of a host belongs to one space", rc.Route.Host, holder)
	}
	return newError(http.StatusConflict, paved.CodeRouteTaken, field, "route %s is already served by %s", rc.Route, holder)
}

func (s *Server) createApp(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.space(r)
	if err != nil {
		return err
	}
	var spec paved.AppSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if err := s.checkApp(r, spec); err != nil {
		return err
	}
	return s.idempotent(w, r, func() (int, any, error) {
		a, err := s.Store.CreateApp(r.Context(), actor(r), sp.Name, spec)
		if errors.Is(err, store.ErrExists) {
			return 0, nil, conflict("name", "app %q already exists in space %q", spec.Name, sp.Name)
		}
		if err != nil {
			return 0, nil, err
		}
		s.Deployer.Notify(sp.Name, spec.Name)
		w.Header().Set("ETag", etag(a.Version))
		w.Header().Set("Location", "/v1/spaces/"+sp.Name+"/apps/"+spec.Name)
		return http.StatusCreated, s.view(a), nil
	})
}

func (s *Server) updateApp(w http.ResponseWriter, r *http.Request) error {
	cur, err := s.app(r)
	if err != nil {
		return err
	}
	var spec paved.AppSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if spec.Name == "" {
		spec.Name = cur.Spec.Name
	}
	if spec.Name != cur.Spec.Name {
		return invalid("name", "an app cannot be renamed; create a new one and delete this one")
	}
	if spec.SecretEnv == nil {
		spec.SecretEnv = cur.Spec.SecretEnv // omitted = keep the secrets the cell has
	}
	if err := s.checkApp(r, spec); err != nil {
		return err
	}
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	a, err := s.Store.UpdateApp(r.Context(), actor(r), cur.Space, spec, want)
	if err != nil {
		return staleError(err, "app "+cur.Space+"/"+spec.Name, want)
	}
	s.Deployer.Notify(a.Space, spec.Name)
	w.Header().Set("ETag", etag(a.Version))
	writeJSON(w, http.StatusOK, s.view(a))
	return nil
}

func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request) error {
	cur, err := s.app(r)
	if err != nil {
		return err
	}
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	if s.Services != nil {
		bs, err := s.Services.Bindings(r.Context(), cur.Space)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if b.App == cur.Spec.Name {
				return conflict("", "app %s/%s is bound to service instance %s (binding %s); delete the binding first, so its credentials are revoked", cur.Space, cur.Spec.Name, b.Instance, b.Name)
			}
		}
	}
	if err := s.Store.DeleteApp(r.Context(), actor(r), cur.Space, cur.Spec.Name, want); err != nil {
		return staleError(err, "app "+cur.Space+"/"+cur.Spec.Name, want)
	}
	s.Deployer.Notify(cur.Space, cur.Spec.Name)
	// Answer once the instances are gone, so "deleted" means nothing of the
	// app runs any more (bounded: a stuck stop must not hang the client).
	deadline := time.Now().Add(time.Minute)
	for len(s.Deployer.Instances(cur.Space, cur.Spec.Name)) > 0 && time.Now().Before(deadline) && r.Context().Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) error {
	a, err := s.app(r)
	if err != nil {
		return err
	}
	rels, err := s.Store.ListReleases(r.Context(), a.Space, a.Spec.Name)
	if err != nil {
		return err
	}
	for i := range rels {
		rels[i].Config.SecretEnv = nil // never in a read
	}
	writeJSON(w, http.StatusOK, map[string]any{"releases": rels})
	return nil
}

func (s *Server) listBuilds(w http.ResponseWriter, r *http.Request) error {
	a, err := s.app(r)
	if err != nil {
		return err
	}
	builds, err := s.Store.ListBuilds(r.Context(), a.Space, a.Spec.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"builds": builds})
	return nil
}

func (s *Server) build(r *http.Request) (paved.Build, error) {
	a, err := s.app(r)
	if err != nil {
		return paved.Build{}, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return paved.Build{}, badRequest("id", "build id must be a number")
	}
	b, err := s.Store.GetBuild(r.Context(), a.Space, a.Spec.Name, id)
	if errors.Is(err, store.ErrNotFound) {
		return b, notFound("app %s/%s has no build %d", a.Space, a.Spec.Name, id)
	}
	return b, err
}

func (s *Server) getBuild(w http.ResponseWriter, r *http.Request) error {
	b, err := s.build(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}
