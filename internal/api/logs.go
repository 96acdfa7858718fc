package api

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/deploy"
)

func (s *Server) buildLog(w http.ResponseWriter, r *http.Request) error {
	b, err := s.build(r)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(s.Stager.LogPath(b.ID))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": b.ID, "status": b.Status, "log": string(data)})
	return nil
}

// appLogs streams an app's log lines as newline-delimited JSON: the last
// ?tail lines, then, with ?follow=true, each new line as it is printed.
func (s *Server) appLogs(w http.ResponseWriter, r *http.Request) error {
	a, err := s.app(r)
	if err != nil {
		return err
	}
	tail := 100
	if v := r.URL.Query().Get("tail"); v != "" {
		if tail, err = strconv.Atoi(v); err != nil || tail < 0 {
			return badRequest("tail", "tail must be a whole number of lines")
		}
	}
	follow, _ := strconv.ParseBool(r.URL.Query().Get("follow"))
	key := deploy.Key(a.Space, a.Spec.Name)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	if !follow {
		for _, l := range s.Logs.Tail(key, tail) {
			if enc.Encode(l) != nil {
				return nil // the client is gone
			}
		}
		return nil
	}
	past, lines, cancel := s.Logs.Follow(key, tail)
	defer cancel()
	for _, l := range past {
		if enc.Encode(l) != nil {
			return nil
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	// A stream outlives the request's one authentication, so the token is
	// looked up again every streamRecheck: a revoke ends the stream as it
	// would refuse a new request.
	recheck := time.NewTicker(streamRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-recheck.C:
			if _, err := s.authenticate(r); err != nil {
				s.Logger.Info("log stream ended: its token is no longer valid", "app", key, "err", err)
				return nil
			}
		case l := <-lines:
			if enc.Encode(l) != nil {
				return nil
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var after int64
	var limit int
	var err error
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil {
			return badRequest("after", "after must be an event id")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return badRequest("limit", "limit must be a positive number")
		}
	}
	evs, err := s.Store.ListEvents(r.Context(), after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
	return nil
}

// streamRecheck is how often a long-lived stream checks that its token is
// still valid (a variable so that tests can shorten it).
var streamRecheck = time.Second
