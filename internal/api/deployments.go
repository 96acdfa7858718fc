package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/pavedroad/terraform-provider-paved/internal/environment"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) error {
	a, err := s.app(r)
	if err != nil {
		return err
	}
	deps, err := s.Store.ListDeployments(r.Context(), a.Space, a.Spec.Name)
	if err != nil {
		return err
	}
	out := make([]paved.Deployment, 0, len(deps))
	for _, d := range deps {
		out = append(out, d.Deployment)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deployments": out})
	return nil
}

// getDeployment shows a deployment with its app's live instances and the
// events of its phases.
func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return badRequest("id", "a deployment id is a number")
	}
	d, err := s.Store.GetDeployment(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("deployment %d does not exist", id)
	}
	if err != nil {
		return err
	}
	if err := s.checkSpace(r, d.Space, "deployment "+strconv.FormatInt(id, 10)); err != nil {
		return err
	}
	out := d.Deployment
	out.InstanceSet = s.Deployer.Instances(d.Space, d.App)
	if out.Events, err = s.Store.ListObjectEvents(r.Context(), store.DeploymentObject(id)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// RollbackRequest is the body of POST …/apps/{app}/rollback.
type RollbackRequest struct {
	// To is the release to go back to; 0 = the newest release before the
	// current one that was good.
	To int `json:"to,omitempty"`
}

// rollback redeploys an earlier release with the app's strategy. It sets
// the app's spec to that release's settings, so the declared state says
// what runs, and the deployer rolls it out as a new release (reusing the
// old droplet).
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	a, err := s.app(r)
	if err != nil {
		return err
	}
	var req RollbackRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	rels, err := s.Store.ListReleases(r.Context(), a.Space, a.Spec.Name)
	if err != nil {
		return err
	}
	target, err := rollbackTarget(rels, a.State.Release, req.To)
	if err != nil {
		return err
	}
	spec := environment.WithRelease(a.Spec, target.Config)
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	updated, err := s.Store.UpdateApp(r.Context(), actor(r), a.Space, spec, want)
	if err != nil {
		return staleError(err, "app "+a.Space+"/"+a.Spec.Name, want)
	}
	s.appendEvent(r, paved.Event{Actor: actor(r), Action: "app.rollback",
		Object: "app/" + a.Space + "/" + a.Spec.Name, Detail: "to the settings of release " + strconv.Itoa(target.Number)})
	s.Deployer.Notify(a.Space, a.Spec.Name)
	w.Header().Set("ETag", etag(updated.Version))
	writeJSON(w, http.StatusAccepted, s.view(updated))
	return nil
}

// rollbackTarget picks the release to go back to.
func rollbackTarget(rels []paved.Release, current, to int) (paved.Release, error) {
	if to != 0 {
		for _, r := range rels {
			if r.Number == to {
				if to == current {
					return r, invalid("to", "release %d is already running", to)
				}
				return r, nil
			}
		}
		return paved.Release{}, notFound("the app has no release %d", to)
	}
	for _, r := range rels { // newest first
		if r.Number < current && wasGood(r.Status) {
			return r, nil
		}
	}
	return paved.Release{}, invalid("to", "there is no earlier good release to roll back to")
}

func wasGood(status string) bool {
	return status == paved.ReleaseGood || status == paved.ReleaseSuperseded || status == paved.ReleaseRolledBack
}
