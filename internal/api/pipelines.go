package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/authz"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// PipelineEngine is what the API needs of the pipeline engine.
type PipelineEngine interface {
	Notify(id int64)
	// Stopped waits until a deleted pipeline's builds have stopped and
	// their preview environments are gone.
	Stopped(ctx context.Context, id int64) error
	Check(ctx context.Context, pipelineID int64, source string) error
	LogPath(b store.JobBuild) string
}

// WebhookHeader carries a source's webhook secret (instead of a bearer token).
const WebhookHeader = paved.WebhookHeader

// pipelineView is a pipeline as the API shows it: never with a webhook
// secret, except generated ones (source → secret), which only the answer
// to the set that made them carries.
func (s *Server) pipelineView(p store.Pipeline, generated map[string]string) paved.Pipeline {
	out := paved.Pipeline{PipelineSpec: p.Spec, Space: p.Space, Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Webhooks: map[string]paved.Webhook{}}
	out.WebhookSecrets = nil
	for src := range p.WebhookHashes {
		out.Webhooks[src] = paved.Webhook{Path: fmt.Sprintf("/v1/spaces/%s/pipelines/%s/sources/%s/check", p.Space, p.Spec.Name, src),
			Token: generated[src]}
	}
	return out
}

func (s *Server) pipeline(r *http.Request) (store.Pipeline, error) {
	sp, err := s.space(r)
	if err != nil {
		return store.Pipeline{}, err
	}
	p, err := s.Store.GetPipeline(r.Context(), sp.Name, r.PathValue("pipeline"))
	if errors.Is(err, store.ErrNotFound) {
		return p, notFound("pipeline %q does not exist in space %q", r.PathValue("pipeline"), sp.Name)
	}
	return p, err
}

func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.space(r)
	if err != nil {
		return err
	}
	ps, err := s.Store.ListPipelines(r.Context(), sp.Name)
	if err != nil {
		return err
	}
	out := make([]paved.Pipeline, 0, len(ps))
	for _, p := range ps {
		out = append(out, s.pipelineView(p, nil))
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipelines": out})
	return nil
}

func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request) error {
	p, err := s.pipeline(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(p.Version))
	writeJSON(w, http.StatusOK, s.pipelineView(p, nil))
	return nil
}

// setPipeline creates or replaces a pipeline after validating all of it.
func (s *Server) setPipeline(w http.ResponseWriter, r *http.Request) error {
	sp, err := s.space(r)
	if err != nil {
		return err
	}
	var spec paved.PipelineSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if spec.Name == "" {
		spec.Name = r.PathValue("pipeline")
	}
	if spec.Name != r.PathValue("pipeline") {
		return invalid("name", "the body names pipeline %q but the URL %q", spec.Name, r.PathValue("pipeline"))
	}
	appExists := func(name string) bool {
		_, err := s.Store.GetApp(r.Context(), sp.Name, name)
		return err == nil
	}
	if errs := spec.Validate(appExists); len(errs) > 0 {
		return invalid(errs[0].Field, "%s", errs[0].Message)
	}
	if err := s.checkEnvironmentSpaces(r, sp.Name, spec); err != nil {
		return err
	}
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	p, generated, err := s.Store.SetPipeline(r.Context(), actor(r), sp.Name, spec, want, s.NewToken)
	if err != nil {
		return staleError(err, "pipeline "+spec.Name, want)
	}
	s.Pipelines.Notify(p.ID)
	w.Header().Set("ETag", etag(p.Version))
	// The answer may hold generated secrets: no cache keeps it.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.pipelineView(p, generated))
	return nil
}

func (s *Server) deletePipeline(w http.ResponseWriter, r *http.Request) error {
	p, err := s.pipeline(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeletePipeline(r.Context(), actor(r), p.Space, p.Spec.Name); err != nil {
		return err
	}
	s.Pipelines.Notify(p.ID)
	// Like an app's DELETE, this one answers once nothing of the pipeline
	// runs any more, so that a `destroy` that returns has left nothing
	// behind. The wait is bounded: the deletion itself is done, and what
	// is still stopping ends by itself.
	ctx, cancel := context.WithTimeout(r.Context(), pipelineStopWait)
	defer cancel()
	if err := s.Pipelines.Stopped(ctx, p.ID); err != nil {
		s.log.Warn("pipeline deleted; its builds are still stopping", "space", p.Space, "pipeline", p.Spec.Name, "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pipelineStopWait bounds how long a pipeline's DELETE waits for its
// builds to stop.
const pipelineStopWait = 2 * time.Minute

// checkSource checks a source now: the webhook. It takes the admin token
// or the source's own webhook secret, compared by hash in constant time.
func (s *Server) checkSource(w http.ResponseWriter, r *http.Request) error {
	webhook := webhookCall(r)
	// A webhook caller learns nothing (not even whether the pipeline
	// exists) unless its token is right.
	denied := newError(http.StatusUnauthorized, paved.CodeUnauthorized, "", "the webhook token is not valid for this source")
	p, err := s.pipeline(r)
	if err != nil {
		if webhook {
			return s.webhookFailed(r, denied)
		}
		return err
	}
	src := r.PathValue("source")
	hash, ok := p.WebhookHashes[src]
	switch {
	case webhook && (!ok || !store.WebhookMatches(hash, r.Header.Get(WebhookHeader))):
		return s.webhookFailed(r, denied)
	case !ok:
		return notFound("pipeline %s has no source %q", p.Spec.Name, src)
	case webhook:
		s.authFails.succeeded(clientIP(r))
	}
	if err := s.Pipelines.Check(r.Context(), p.ID, src); err != nil {
		return newError(http.StatusBadGateway, paved.CodeUnavailable, "", "checking source %s failed: %v", src, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// webhookFailed counts a wrong webhook token against the caller's address,
// as a wrong bearer token is (see authorize).
func (s *Server) webhookFailed(r *http.Request, denied error) error {
	s.authFails.failed(clientIP(r), s.now())
	return denied
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) error {
	p, err := s.pipeline(r)
	if err != nil {
		return err
	}
	vs, err := s.Store.ListVersions(r.Context(), p.ID, r.PathValue("source"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (s *Server) listJobBuilds(w http.ResponseWriter, r *http.Request) error {
	p, err := s.pipeline(r)
	if err != nil {
		return err
	}
	bs, err := s.Store.ListJobBuilds(r.Context(), p.ID, r.PathValue("job"))
	if err != nil {
		return err
	}
	out := make([]paved.JobBuild, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.JobBuild)
	}
	writeJSON(w, http.StatusOK, map[string]any{"builds": out})
	return nil
}

func (s *Server) jobBuild(r *http.Request) (store.JobBuild, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return store.JobBuild{}, badRequest("id", "a build id is a number")
	}
	b, err := s.Store.GetJobBuild(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return b, notFound("build %d does not exist", id)
	}
	if err != nil {
		return b, err
	}
	return b, s.checkSpace(r, b.Space, "pipeline build "+strconv.FormatInt(id, 10))
}

func (s *Server) getJobBuild(w http.ResponseWriter, r *http.Request) error {
	b, err := s.jobBuild(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b.JobBuild)
	return nil
}

// jobBuildLog returns the build log from ?offset (bytes), so a watcher can
// follow it by asking for what came since its last read.
func (s *Server) jobBuildLog(w http.ResponseWriter, r *http.Request) error {
	b, err := s.jobBuild(r)
	if err != nil {
		return err
	}
	offset, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if offset < 0 {
		return badRequest("offset", "offset must be a whole number of bytes")
	}
	f, err := os.Open(s.Pipelines.LogPath(b))
	data := []byte{}
	if err == nil {
		defer f.Close()
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return err
		}
		data, _ = io.ReadAll(io.LimitReader(f, 4<<20))
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": b.ID, "status": b.Status, "offset": offset + int64(len(data)), "log": string(data)})
	return nil
}

// timings summarises step durations over the last N builds of each job:
// where the pipeline slows down.
func (s *Server) timings(w http.ResponseWriter, r *http.Request) error {
	p, err := s.pipeline(r)
	if err != nil {
		return err
	}
	last := 20
	if v := r.URL.Query().Get("last"); v != "" {
		if last, err = strconv.Atoi(v); err != nil || last < 1 {
			return badRequest("last", "last must be a positive number of builds")
		}
	}
	bs, err := s.Store.ListJobBuilds(r.Context(), p.ID, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"timings": stepTimings(bs, last)})
	return nil
}

// stepTimings computes p50/p95/max per (job, step) over each job's last
// finished builds, slowest p95 first.
func stepTimings(bs []store.JobBuild, last int) []paved.StepTiming {
	type key struct{ job, step string }
	seen := map[string]int{}
	samples := map[key][]float64{}
	var order []key
	for _, b := range bs { // newest first
		if b.FinishedAt == nil || seen[b.Job] >= last {
			continue
		}
		seen[b.Job]++
		for _, st := range b.Steps {
			if st.FinishedAt == nil {
				continue
			}
			k := key{b.Job, st.Name}
			if _, ok := samples[k]; !ok {
				order = append(order, k)
			}
			samples[k] = append(samples[k], st.Seconds)
		}
	}
	out := make([]paved.StepTiming, 0, len(order))
	for _, k := range order {
		v := samples[k]
		sort.Float64s(v)
		out = append(out, paved.StepTiming{Job: k.job, Step: k.step, Builds: len(v),
			P50: percentile(v, 0.50), P95: percentile(v, 0.95), Max: v[len(v)-1]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].P95 > out[j].P95 })
	return out
}

func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[min(i, len(sorted)-1)]
}

// checkEnvironmentSpaces keeps a space-scoped token inside its space: the
// pipeline's environment steps clone spaces (which the cell does with its
// own rights), so a scoped token may only clone the pipeline's own space.
func (s *Server) checkEnvironmentSpaces(r *http.Request, space string, spec paved.PipelineSpec) error {
	var walk func(st *paved.Step) error
	walk = func(st *paved.Step) error {
		if st == nil {
			return nil
		}
		if p := principal(r); st.Environment != "" && st.FromSpace != space && p.Role != authz.Admin {
			return s.deny(r, p, &authz.Denied{Message: fmt.Sprintf(
				"%s may not clone space %q in environment step %q: a pipeline it sets may only clone its own space", p, st.FromSpace, st.Environment)})
		}
		for i := range st.InParallel {
			if err := walk(&st.InParallel[i]); err != nil {
				return err
			}
		}
		return walk(st.Try)
	}
	for _, j := range spec.Jobs {
		for i := range j.Plan {
			if err := walk(&j.Plan[i]); err != nil {
				return err
			}
		}
		for _, st := range []*paved.Step{j.OnSuccess, j.OnFailure, j.Ensure} {
			if err := walk(st); err != nil {
				return err
			}
		}
	}
	return nil
}
