package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/pavedroad/terraform-provider-paved/internal/environment"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request) error {
	var spec paved.EnvironmentSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if fe := s.Environments.Validate(r.Context(), spec); fe != nil {
		return invalid(fe.Field, "%s", fe.Message)
	}
	env, err := s.Environments.Create(r.Context(), actor(r), spec)
	if errors.Is(err, store.ErrExists) {
		return conflict("name", "a space or environment named %q already exists", spec.Name)
	}
	var rc *store.RouteConflict
	var ce *environment.CloneError
	if errors.As(err, &rc) && errors.As(err, &ce) {
		ae := routeTaken(r, rc)
		ae.body.Field = "name"
		ae.body.Message = fmt.Sprintf("cloning app %s (its routes[%d]): %s; choose another environment name", ce.App, rc.Index, ae.body.Message)
		return ae
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, env)
	return nil
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Store.GetEnvironment(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("environment %q does not exist", r.PathValue("name"))
	}
	if err != nil {
		return err
	}
	view, err := s.Environments.View(r.Context(), e)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) error {
	envs, err := s.Store.ListEnvironments(r.Context())
	if err != nil {
		return err
	}
	out := make([]paved.Environment, 0, len(envs))
	for _, e := range envs {
		v, err := s.Environments.View(r.Context(), e)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"environments": out})
	return nil
}

// deleteEnvironment destroys an environment and answers once nothing of it runs.
func (s *Server) deleteEnvironment(w http.ResponseWriter, r *http.Request) error {
	err := s.Environments.Destroy(r.Context(), actor(r), r.PathValue("name"), "deleted by "+actor(r))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("environment %q does not exist", r.PathValue("name"))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.space(r)
	if err != nil {
		return err
	}
	snaps, err := s.Store.ListSnapshots(r.Context(), sp.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshots": snaps})
	return nil
}

// restore sets every app of the space back to a snapshot.
func (s *Server) restore(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.space(r)
	if err != nil {
		return err
	}
	var req struct {
		Snapshot int `json:"snapshot,omitempty"`
	}
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	snap, err := s.Environments.Restore(r.Context(), actor(r), sp.Name, req.Snapshot)
	if errors.Is(err, store.ErrNotFound) {
		if req.Snapshot == 0 {
			return invalid("snapshot", "space %q has no earlier snapshot to restore", sp.Name)
		}
		return notFound("space %q has no snapshot %d", sp.Name, req.Snapshot)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, snap)
	return nil
}
