package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
)

func etag(version int64) string { return strconv.Quote(strconv.FormatInt(version, 10)) }

// ifMatch reads If-Match as the version a write expects; 0 = unconditional.
func ifMatch(r *http.Request) (int64, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil || n <= 0 {
		return 0, badRequest("If-Match", "If-Match must be an ETag this API returned, such as \"3\"")
	}
	return n, nil
}

// staleError explains a lost optimistic-concurrency race.
func staleError(err error, what string, sent int64) error {
	if errors.Is(err, store.ErrStale) {
		return conflict("", "%s was changed by someone else since version %d; read it again and retry", what, sent)
	}
	return err
}

// idempotent replays the stored answer to a repeated Idempotency-Key; when
// the key is new it runs create and remembers its answer.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, create func() (int, any, error)) error {
	key := r.Header.Get("Idempotency-Key")
	request := r.Method + " " + r.URL.Path
	if key != "" {
		if len(key) > 255 {
			return badRequest("Idempotency-Key", "Idempotency-Key must be at most 255 characters")
		}
		prev, err := s.Store.GetIdempotent(r.Context(), key)
		if err == nil {
			if prev.Request != request {
				return invalid("Idempotency-Key", "this Idempotency-Key was used for %s; use a new key for a different request", prev.Request)
			}
			for k, v := range prev.Headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(prev.Status)
			_, _ = w.Write(prev.Body)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	status, body, err := create()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(body); err != nil {
		return err
	}
	if key != "" {
		headers := map[string]string{}
		for _, h := range []string{"ETag", "Location"} {
			if v := w.Header().Get(h); v != "" {
				headers[h] = v
			}
		}
		rec := store.Idempotent{Key: key, Request: request, Status: status, Body: buf.Bytes(), Headers: headers}
		if err := s.Store.PutIdempotent(r.Context(), rec); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}
