package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// GlobalRoutes is told when the replica-set records change, so the router
// serves (or stops serving) their global hosts at once.
type GlobalRoutes interface {
	Reload()
}

// maxPeers bounds a record's peer list: a replica set spans regions, and
// every peer is probed every interval.
const maxPeers = 32

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

func validateReplicaSet(name string, rec paved.ReplicaSetRecord) error {
	if err := validName("name", rec.Name); err != nil {
		return err
	}
	if rec.Name != name {
		return invalid("name", "the body names replica set %q but the path %q", rec.Name, name)
	}
	if err := validName("space", rec.Space); err != nil {
		return err
	}
	if err := validName("app", rec.App); err != nil {
		return err
	}
	if err := paved.CheckHost(rec.GlobalHost); err != nil {
		return invalid("global_host", "%v", err)
	}
	if len(rec.Peers) > maxPeers {
		return invalid("peers", "at most %d peers", maxPeers)
	}
	seen := map[string]bool{}
	for i, p := range rec.Peers {
		field := fmt.Sprintf("peers[%d]", i)
		if err := validName(field+".region", p.Region); err != nil {
			return err
		}
		if seen[p.Region] {
			return invalid(field+".region", "region %q is listed twice", p.Region)
		}
		seen[p.Region] = true
		if _, port, err := net.SplitHostPort(p.Router); err != nil || port == "" {
			return invalid(field+".router", "router %q must be HOST:PORT", p.Router)
		}
	}
	return nil
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
