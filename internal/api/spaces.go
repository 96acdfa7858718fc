package api

import (
	"errors"
	"net/http"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func (s *Server) listSpaces(w http.ResponseWriter, r *http.Request) error {
	spaces, err := s.Store.ListSpaces(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"spaces": spaces})
	return nil
}

func (s *Server) space(r *http.Request) (paved.Space, error) {
	name := r.PathValue("space")
	sp, err := s.Store.GetSpace(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return sp, notFound("space %q does not exist", name)
	}
	return sp, err
}

func (s *Server) getSpace(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.space(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(sp.Version))
	writeJSON(w, http.StatusOK, sp)
	return nil
}

func (s *Server) createSpace(w http.ResponseWriter, r *http.Request) error {
	var spec paved.SpaceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if err := validateSpace(spec); err != nil {
		return err
	}
	return s.idempotent(w, r, func() (int, any, error) {
		sp, err := s.Store.CreateSpace(r.Context(), actor(r), spec)
		if errors.Is(err, store.ErrExists) {
			return 0, nil, conflict("name", "space %q already exists", spec.Name)
		}
		if err != nil {
			return 0, nil, err
		}
		w.Header().Set("ETag", etag(sp.Version))
		w.Header().Set("Location", "/v1/spaces/"+sp.Name)
		return http.StatusCreated, sp, nil
	})
}

func (s *Server) updateSpace(w http.ResponseWriter, r *http.Request) error {
	var spec paved.SpaceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if spec.Name == "" {
		spec.Name = r.PathValue("space")
	}
	if spec.Name != r.PathValue("space") {
		return invalid("name", "a space cannot be renamed; create a new one")
	}
	if err := validateSpace(spec); err != nil {
		return err
	}
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	sp, err := s.Store.UpdateSpace(r.Context(), actor(r), spec, want)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("space %q does not exist", spec.Name)
	}
	if err != nil {
		return staleError(err, "space "+spec.Name, want)
	}
	w.Header().Set("ETag", etag(sp.Version))
	writeJSON(w, http.StatusOK, sp)
	return nil
}

func (s *Server) deleteSpace(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("space")
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	err = s.Store.DeleteSpace(r.Context(), actor(r), name, want)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("space %q does not exist", name)
	case errors.Is(err, store.ErrNotEmpty):
		return conflict("", "space %q still has apps or pipelines; delete them first", name)
	case err != nil:
		return staleError(err, "space "+name, want)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
