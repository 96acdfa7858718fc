package api

import (
	"errors"
	"net/http"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// GlobalRoutes is told when the replica-set records change, so the router
// serves (or stops serving) their global hosts at once.
type GlobalRoutes interface {
	Reload()
}

func (s *Server) putReplicaSet(w http.ResponseWriter, r *http.Request) error {
	var rec paved.ReplicaSetRecord
	if err := decode(r, &rec); err != nil {
		return err
	}
	name := r.PathValue("name")
	if rec.Name == "" {
		rec.Name = name
	}
	if err := validateReplicaSet(name, rec); err != nil {
		return err
	}
	if _, err := s.Store.GetSpace(r.Context(), rec.Space); errors.Is(err, store.ErrNotFound) {
		return invalid("space", "space %q does not exist on this cell", rec.Space)
	} else if err != nil {
		return err
	}
	out, err := s.Store.PutReplicaSet(r.Context(), actor(r), rec)
	if errors.Is(err, store.ErrHostTaken) {
		holder, herr := s.Store.ReplicaSetByHost(r.Context(), rec.GlobalHost)
		if herr != nil {
			return conflict("global_host", "global host %q is held by another replica set", rec.GlobalHost)
		}
		return conflict("global_host", "global host %q is held by replica set %q; a global host belongs to one replica set", rec.GlobalHost, holder.Name)
	}
	if err != nil {
		return err
	}
	s.reloadGlobalRoutes()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// validateReplicaSet checks a record by the library's rules
// (paved.ReplicaSetRecord.Validate) and that it is the record the path
// names; putReplicaSet adds what needs the store.
func validateReplicaSet(name string, rec paved.ReplicaSetRecord) error {
	errs := rec.Validate()
	if (len(errs) == 0 || errs[0].Field != "name") && rec.Name != name {
		return invalid("name", "the body names replica set %q but the path %q", rec.Name, name)
	}
	return firstInvalid(errs)
}

func (s *Server) getReplicaSet(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.Store.GetReplicaSet(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("replica set %q does not exist on this cell", r.PathValue("name"))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (s *Server) listReplicaSets(w http.ResponseWriter, r *http.Request) error {
	recs, err := s.Store.ListReplicaSets(r.Context())
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []paved.ReplicaSetRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"replica_sets": recs})
	return nil
}

func (s *Server) deleteReplicaSet(w http.ResponseWriter, r *http.Request) error {
	err := s.Store.DeleteReplicaSet(r.Context(), actor(r), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("replica set %q does not exist on this cell", r.PathValue("name"))
	}
	if err != nil {
		return err
	}
	s.reloadGlobalRoutes()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) reloadGlobalRoutes() {
	if s.GlobalRoutes != nil {
		s.GlobalRoutes.Reload()
	}
}
