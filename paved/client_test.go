package paved_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// newTestClient returns a client for srv with tiny backoffs so retry tests
// run fast; cfg fields that are set are kept.
func newTestClient(t *testing.T, endpoint string, cfg paved.Config) *paved.Client {
	t.Helper()
	cfg.Endpoint = endpoint
	if cfg.RetryMin == 0 {
		cfg.RetryMin = time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 5 * time.Millisecond
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Millisecond
	}
	c, err := paved.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient(%q): %v", endpoint, err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg, "field": field}})
}

// within fails the test if fn has not returned after a generous deadline,
// so a hang is reported instead of stalling the whole run.
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("call did not return within %s", d)
	}
}

func TestClientSendsTokenAndUserAgent(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		ua       string
		wantAuth string
		wantUA   string
	}{
		{"token and custom agent", "s3cret", "my-tool/1.2", "Bearer s3cret", "my-tool/1.2"},
		{"defaults", "", "", "", "paved-go"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PAVED_TOKEN", "")
			var gotAuth, gotUA, gotAccept string
			var sawAuth bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth, gotUA, gotAccept = r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Header.Get("Accept")
				_, sawAuth = r.Header["Authorization"]
				writeJSON(w, 200, map[string]any{"spaces": []any{}})
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, paved.Config{Token: tc.token, UserAgent: tc.ua})
			if _, err := c.Spaces.List(context.Background()); err != nil {
				t.Fatalf("List: %v", err)
			}
			if gotAuth != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", gotAuth, tc.wantAuth)
			}
			if tc.wantAuth == "" && sawAuth {
				t.Errorf("Authorization header sent although no token is configured")
			}
			if gotUA != tc.wantUA {
				t.Errorf("User-Agent = %q, want %q", gotUA, tc.wantUA)
			}
			if gotAccept != "application/json" {
				t.Errorf("Accept = %q, want application/json", gotAccept)
			}
		})
	}
}

func TestAPIErrorMapsToSentinels(t *testing.T) {
	sentinels := map[string]error{
		"ErrNotFound":     paved.ErrNotFound,
		"ErrConflict":     paved.ErrConflict,
		"ErrUnauthorized": paved.ErrUnauthorized,
		"ErrForbidden":    paved.ErrForbidden,
		"ErrValidation":   paved.ErrValidation,
		"ErrTooLarge":     paved.ErrTooLarge,
		"ErrUnavailable":  paved.ErrUnavailable,
	}
	tests := []struct {
		status int
		code   string
		field  string
		want   string // the one sentinel that must match
	}{
		{http.StatusNotFound, paved.CodeNotFound, "", "ErrNotFound"},
		{http.StatusConflict, paved.CodeConflict, "routes[0]", "ErrConflict"},
		{http.StatusPreconditionFailed, paved.CodeConflict, "", "ErrConflict"},
		{http.StatusUnauthorized, paved.CodeUnauthorized, "", "ErrUnauthorized"},
		{http.StatusForbidden, paved.CodeForbidden, "", "ErrForbidden"},
		{http.StatusBadRequest, paved.CodeBadRequest, "instances", "ErrValidation"},
		{http.StatusUnprocessableEntity, paved.CodeValidation, "health_check.type", "ErrValidation"},
		{http.StatusRequestEntityTooLarge, paved.CodeTooLarge, "source", "ErrTooLarge"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				writeAPIError(w, tc.status, tc.code, "something is wrong", tc.field)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, paved.Config{})
			_, err := c.Spaces.Get(context.Background(), "demo")
			var apiErr *paved.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T) is not a *paved.APIError", err, err)
			}
			if apiErr.Status != tc.status || apiErr.Code != tc.code || apiErr.Field != tc.field || apiErr.Message != "something is wrong" {
				t.Errorf("APIError = %+v, want status %d code %q field %q", *apiErr, tc.status, tc.code, tc.field)
			}
			if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error text %q does not name field %q", err, tc.field)
			}
			for name, sentinel := range sentinels {
				if got := errors.Is(err, sentinel); got != (name == tc.want) {
					t.Errorf("errors.Is(err, %s) = %v, want %v", name, got, name == tc.want)
				}
			}
			if got := paved.IsNotFound(err); got != (tc.want == "ErrNotFound") {
				t.Errorf("IsNotFound = %v", got)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("a %d was sent %d times; only 429/503 are retried", tc.status, n)
			}
		})
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		status   int
		body     string
		wantMsg  string
		sentinel error
	}{
		{"html from a proxy", http.MethodGet, http.StatusBadGateway, "<html>upstream exploded</html>\n", "<html>upstream exploded</html>", nil},
		{"empty 404", http.MethodGet, http.StatusNotFound, "", "Not Found", paved.ErrNotFound},
		{"plain text 413", http.MethodGet, http.StatusRequestEntityTooLarge, "too big", "too big", paved.ErrTooLarge},
		{"json without error key", http.MethodGet, http.StatusConflict, `{"message":"nope"}`, `{"message":"nope"}`, paved.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, paved.Config{})
			_, err := c.Apps.Get(context.Background(), "s", "a")
			var apiErr *paved.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T) is not a *paved.APIError", err, err)
			}
			if apiErr.Status != tc.status {
				t.Errorf("Status = %d, want %d", apiErr.Status, tc.status)
			}
			if apiErr.Message != tc.wantMsg {
				t.Errorf("Message = %q, want %q", apiErr.Message, tc.wantMsg)
			}
			if apiErr.Code == "" {
				t.Errorf("Code is empty")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
		})
	}
}

// A non-JSON error (from a proxy, say) gets a code synthesised from its
// status; it should be the code the cell itself would have used.
func TestNonJSONErrorCodeFromStatus(t *testing.T) {
	tests := []struct {
		status int
		code   string
	}{
		{http.StatusBadRequest, paved.CodeBadRequest},
		{http.StatusNotFound, paved.CodeNotFound},
		{http.StatusConflict, paved.CodeConflict},
		{http.StatusRequestEntityTooLarge, paved.CodeTooLarge},
		{http.StatusUnprocessableEntity, paved.CodeValidation},
		{http.StatusTooManyRequests, paved.CodeRateLimited},
		{http.StatusInternalServerError, paved.CodeInternal},
		{http.StatusServiceUnavailable, paved.CodeUnavailable},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "proxy says no", tc.status)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, paved.Config{MaxRetries: -1})
			_, err := c.Spaces.Get(context.Background(), "x")
			var apiErr *paved.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not a *paved.APIError", err)
			}
			if apiErr.Code != tc.code {
				t.Errorf("Code = %q, want %q", apiErr.Code, tc.code)
			}
		})
	}
}

func TestRetries503ThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			writeAPIError(w, http.StatusServiceUnavailable, paved.CodeUnavailable, "starting up", "")
			return
		}
		writeJSON(w, 200, paved.Space{Name: "demo", Version: 7})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{})
	sp, err := c.Spaces.Get(context.Background(), "demo")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if sp.Name != "demo" || sp.Version != 7 {
		t.Errorf("space = %+v", sp)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			writeAPIError(w, http.StatusTooManyRequests, paved.CodeRateLimited, "slow down", "")
			return
		}
		writeJSON(w, 200, map[string]any{"spaces": []paved.Space{{Name: "a"}}})
	}))
	defer srv.Close()
	// Backoff alone would wait a few milliseconds; only Retry-After explains a second.
	c := newTestClient(t, srv.URL, paved.Config{})
	start := time.Now()
	list, err := c.Spaces.List(context.Background())
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || list[0].Name != "a" {
		t.Errorf("list = %+v", list)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
	if elapsed < 950*time.Millisecond {
		t.Errorf("retried after %s; Retry-After: 1 asks for at least a second", elapsed)
	}
}

func TestRetriesStopAfterMaxRetries(t *testing.T) {
	tests := []struct {
		maxRetries int
		wantCalls  int32
	}{
		{-1, 1},
		{1, 2},
		{3, 4},
		{0, 5}, // default 4 retries
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.maxRetries), func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				writeAPIError(w, http.StatusServiceUnavailable, paved.CodeUnavailable, "down for maintenance", "")
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, paved.Config{MaxRetries: tc.maxRetries})
			_, err := c.Spaces.Get(context.Background(), "demo")
			if !errors.Is(err, paved.ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
			if err == nil || !strings.Contains(err.Error(), "down for maintenance") {
				t.Errorf("err = %v, want the server's message", err)
			}
			if n := calls.Load(); n != tc.wantCalls {
				t.Errorf("server saw %d requests, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestPostRetriedOnlyWithIdempotencyKey(t *testing.T) {
	tests := []struct {
		name      string
		opts      []paved.WriteOption
		wantCalls int32
		wantErr   bool
	}{
		{"no key", nil, 1, true},
		{"with key", []paved.WriteOption{paved.IdempotencyKey("key-123")}, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			var mu sync.Mutex
			var keys, bodies []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				keys = append(keys, r.Header.Get("Idempotency-Key"))
				bodies = append(bodies, string(b))
				mu.Unlock()
				if r.Method != http.MethodPost || r.URL.Path != "/v1/spaces" {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				if calls.Add(1) == 1 {
					writeAPIError(w, http.StatusServiceUnavailable, paved.CodeUnavailable, "busy", "")
					return
				}
				writeJSON(w, http.StatusCreated, paved.Space{Name: "demo", Version: 1})
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, paved.Config{})
			sp, err := c.Spaces.Create(context.Background(), paved.SpaceSpec{Name: "demo", Labels: map[string]string{"team": "x"}}, tc.opts...)
			if tc.wantErr {
				if !errors.Is(err, paved.ErrUnavailable) {
					t.Errorf("err = %v, want ErrUnavailable", err)
				}
			} else if err != nil || sp.Name != "demo" {
				t.Errorf("Create = %+v, %v", sp, err)
			}
			if n := calls.Load(); n != tc.wantCalls {
				t.Fatalf("server saw %d POSTs, want %d", n, tc.wantCalls)
			}
			mu.Lock()
			defer mu.Unlock()
			for i := range bodies {
				if want := `{"name":"demo","labels":{"team":"x"}}`; bodies[i] != want {
					t.Errorf("attempt %d body = %q, want %q", i+1, bodies[i], want)
				}
				if len(tc.opts) > 0 && keys[i] != "key-123" {
					t.Errorf("attempt %d Idempotency-Key = %q", i+1, keys[i])
				}
			}
		})
	}
}

func TestContextCancelStopsRetryWait(t *testing.T) {
	first := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			close(first)
		}
		w.Header().Set("Retry-After", "3600")
		writeAPIError(w, http.StatusTooManyRequests, paved.CodeRateLimited, "slow down", "")
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-first
		cancel()
	}()
	var err error
	within(t, 30*time.Second, func() { _, err = c.Spaces.List(ctx) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// A request cancelled by its caller is not an unreachable cell.
func TestCancelledRequestIsNotUnavailable(t *testing.T) {
	inHandler := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newTestClient(t, srv.URL, paved.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-inHandler; cancel() }()
	var err error
	within(t, 30*time.Second, func() { _, err = c.Spaces.List(ctx) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, paved.ErrUnavailable) || strings.Contains(fmt.Sprint(err), "cannot reach") {
		t.Errorf("a cancelled request is reported as an unreachable cell: %v", err)
	}
}

// The default HTTP client times out each attempt; a slow attempt of a GET
// is exactly what retries are for, unlike the caller's own deadline.
func TestPerAttemptTimeoutIsRetried(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select { // hang until the client gives up on this attempt
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		writeJSON(w, 200, paved.Space{Name: "demo"})
	}))
	defer srv.Close()
	defer close(release)
	c := newTestClient(t, srv.URL, paved.Config{HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}})
	var sp *paved.Space
	var err error
	within(t, 30*time.Second, func() { sp, err = c.Spaces.Get(context.Background(), "demo") })
	if err != nil {
		t.Fatalf("Get after a timed-out attempt: %v (server saw %d requests)", err, calls.Load())
	}
	if sp.Name != "demo" || calls.Load() != 2 {
		t.Errorf("space %+v after %d requests", sp, calls.Load())
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	for _, retries := range []int{-1, 2} {
		t.Run(fmt.Sprint(retries), func(t *testing.T) {
			c := newTestClient(t, endpoint, paved.Config{MaxRetries: retries})
			var err error
			within(t, 30*time.Second, func() { _, err = c.Spaces.List(context.Background()) })
			if err == nil {
				t.Fatal("List against a closed port succeeded")
			}
			if !errors.Is(err, paved.ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), endpoint) {
				t.Errorf("err %q does not name the endpoint %s", err, endpoint)
			}
			var apiErr *paved.APIError
			if errors.As(err, &apiErr) {
				t.Errorf("a transport failure became an APIError: %+v", apiErr)
			}
		})
	}
}

func TestIfMatchHeader(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Method+" "+r.URL.Path] = r.Header.Get("If-Match")
		mu.Unlock()
		switch r.Method {
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPut:
			writeJSON(w, 200, paved.Space{Name: "demo", Version: 4})
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{})
	ctx := context.Background()
	if _, err := c.Spaces.Update(ctx, paved.SpaceSpec{Name: "demo"}, paved.IfMatch(3)); err != nil {
		t.Fatal(err)
	}
	if err := c.Apps.Delete(ctx, "demo", "web", paved.IfMatch(12)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Spaces.Update(ctx, paved.SpaceSpec{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{
		"PUT /v1/spaces/demo":             `"3"`,
		"DELETE /v1/spaces/demo/apps/web": `"12"`,
		"PUT /v1/spaces/other":            "",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s If-Match = %q, want %q", k, got[k], v)
		}
	}
}

func TestSourcesUpload(t *testing.T) {
	data := bytes.Repeat([]byte("paved source archive bytes\n"), 20000) // ~540 KB: many reads
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Method != http.MethodPut || r.URL.Path != "/v1/sources/"+digest {
			t.Errorf("request %s %s, want PUT /v1/sources/%s", r.Method, r.URL.Path, digest)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("Content-Type = %q", ct)
		}
		if r.ContentLength != int64(len(data)) {
			t.Errorf("Content-Length = %d, want %d", r.ContentLength, len(data))
		}
		body, _ := io.ReadAll(r.Body)
		if !bytes.Equal(body, data) {
			t.Errorf("attempt %d: body of %d bytes differs from the %d sent", n, len(body), len(data))
		}
		if n == 1 { // a PUT is idempotent, so a 503 is retried with the whole body again
			writeAPIError(w, http.StatusServiceUnavailable, paved.CodeUnavailable, "busy", "")
			return
		}
		writeJSON(w, http.StatusCreated, paved.Source{Digest: digest, Size: int64(len(body))})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{})
	var mu sync.Mutex
	var reports []int64
	src, err := c.Sources.Upload(context.Background(), data, func(sent int64) {
		mu.Lock()
		reports = append(reports, sent)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if src.Digest != digest || src.Size != int64(len(data)) {
		t.Errorf("source = %+v", src)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("server saw %d PUTs, want 2", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) == 0 {
		t.Fatal("progress was never called")
	}
	if last := reports[len(reports)-1]; last != int64(len(data)) {
		t.Errorf("last progress report = %d, want %d", last, len(data))
	}
	for _, r := range reports {
		if r <= 0 || r > int64(len(data)) {
			t.Errorf("progress report %d out of range", r)
		}
	}
}

func TestSourcesUploadErrorNamesDigest(t *testing.T) {
	data := []byte("not really an archive")
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		writeAPIError(w, http.StatusUnprocessableEntity, paved.CodeValidation, "not an archive", "source")
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{})
	_, err := c.Sources.Upload(context.Background(), data, nil)
	if !errors.Is(err, paved.ErrValidation) {
		t.Fatalf("err = %v, want ErrValidation", err)
	}
	var apiErr *paved.APIError
	if !errors.As(err, &apiErr) || apiErr.Field != "source" {
		t.Errorf("err = %v, want an APIError about source", err)
	}
	if !strings.Contains(err.Error(), digest[:12]) {
		t.Errorf("err %q does not name the digest", err)
	}
}

func TestSourcesExists(t *testing.T) {
	const digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		status  int
		want    bool
		wantErr error
	}{
		{http.StatusOK, true, nil},
		{http.StatusNotFound, false, nil},
		{http.StatusUnauthorized, false, paved.ErrUnauthorized},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodHead || r.URL.Path != "/v1/sources/"+digest {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, paved.Config{})
			ok, err := c.Sources.Exists(context.Background(), digest)
			if ok != tc.want {
				t.Errorf("Exists = %v, want %v", ok, tc.want)
			}
			if tc.wantErr == nil && err != nil {
				t.Errorf("err = %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestAppsWaitUntilSettled(t *testing.T) {
	steps := []paved.App{
		{Status: paved.AppPending, Generation: 2, ObservedGeneration: 1},
		{Status: paved.AppStaging, Generation: 2, ObservedGeneration: 1},
		// running, but still at the old generation: not settled yet
		{Status: paved.AppRunning, Generation: 2, ObservedGeneration: 1},
		{Status: paved.AppRunning, Generation: 2, ObservedGeneration: 2, Release: 2},
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/spaces/demo/apps/web" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		i := int(calls.Add(1)) - 1
		if i >= len(steps) {
			i = len(steps) - 1
		}
		a := steps[i]
		a.Name, a.Space = "web", "demo"
		writeJSON(w, 200, a)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{})
	var seen []string
	var app *paved.App
	var err error
	within(t, 30*time.Second, func() {
		app, err = c.Apps.Wait(context.Background(), "demo", "web", func(a *paved.App) {
			seen = append(seen, a.Status)
		})
	})
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if app.Status != paved.AppRunning || app.ObservedGeneration != 2 || app.Release != 2 {
		t.Errorf("Wait returned %+v", app)
	}
	want := []string{paved.AppPending, paved.AppStaging, paved.AppRunning, paved.AppRunning}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("progress saw %v, want %v", seen, want)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("server saw %d polls, want 4", n)
	}
}

func TestAppsWaitStopsOnErrorAndCancel(t *testing.T) {
	t.Run("not found", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeAPIError(w, 404, paved.CodeNotFound, "no app", "")
		}))
		defer srv.Close()
		c := newTestClient(t, srv.URL, paved.Config{})
		_, err := c.Apps.Wait(context.Background(), "demo", "web", nil)
		if !paved.IsNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			writeJSON(w, 200, paved.App{Status: paved.AppDeploying, Generation: 1})
		}))
		defer srv.Close()
		c := newTestClient(t, srv.URL, paved.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		var err error
		within(t, 30*time.Second, func() {
			_, err = c.Apps.Wait(ctx, "demo", "web", func(*paved.App) {
				if calls.Load() >= 3 {
					cancel()
				}
			})
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func TestAppSettled(t *testing.T) {
	tests := []struct {
		status   string
		gen, obs int64
		want     bool
	}{
		{paved.AppRunning, 1, 1, true},
		{paved.AppStopped, 3, 3, true},
		{paved.AppFailed, 2, 2, true},
		{paved.AppCrashing, 2, 2, true},
		{paved.AppDegraded, 2, 2, true},
		{paved.AppRunning, 2, 1, false},
		{paved.AppFailed, 2, 1, false},
		{paved.AppPending, 1, 1, false},
		{paved.AppStaging, 1, 1, false},
		{paved.AppDeploying, 1, 1, false},
	}
	for _, tc := range tests {
		a := paved.App{Status: tc.status, Generation: tc.gen, ObservedGeneration: tc.obs}
		if got := a.Settled(); got != tc.want {
			t.Errorf("Settled(%s gen %d obs %d) = %v, want %v", tc.status, tc.gen, tc.obs, got, tc.want)
		}
	}
}

func TestNewClientEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		env      string
		want     string // "" = error
	}{
		{"no scheme", "127.0.0.1:7400", "", ""},
		{"other scheme", "ftp://cell:7400", "", ""},
		{"bare host", "cell", "", ""},
		{"http trailing slash", "http://cell:7400/", "", "http://cell:7400"},
		{"https", "https://cell.example.com", "", "https://cell.example.com"},
		{"from env", "", "http://env-cell:1", "http://env-cell:1"},
		{"config beats env", "http://cfg:2", "http://env-cell:1", "http://cfg:2"},
		{"bad env", "", "env-cell:1", ""},
		{"default", "", "", paved.DefaultEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PAVED_ENDPOINT", tc.env)
			c, err := paved.NewClient(paved.Config{Endpoint: tc.endpoint})
			if tc.want == "" {
				if err == nil {
					t.Fatalf("NewClient accepted endpoint %q (env %q) as %s", tc.endpoint, tc.env, c.Endpoint())
				}
				if !strings.Contains(err.Error(), "http://") {
					t.Errorf("error %q does not say what an endpoint looks like", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			if got := c.Endpoint(); got != tc.want {
				t.Errorf("Endpoint() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewClientEnvFallback(t *testing.T) {
	var gotAuth, gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.Path
		writeJSON(w, 200, paved.CellHealth{Status: "ok", Region: "here"})
	}))
	defer srv.Close()
	t.Setenv("PAVED_ENDPOINT", srv.URL+"/")
	t.Setenv("PAVED_TOKEN", "from-env")
	c, err := paved.NewClient(paved.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Health(context.Background())
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	if h.Status != "ok" || h.Region != "here" {
		t.Errorf("health = %+v", h)
	}
	if gotAuth != "Bearer from-env" {
		t.Errorf("Authorization = %q, want the PAVED_TOKEN", gotAuth)
	}
	if gotPath != "/v1/health" {
		t.Errorf("path = %q (trailing slash of the endpoint not trimmed?)", gotPath)
	}

	// An explicit token wins over the environment.
	c2, err := paved.NewClient(paved.Config{Token: "explicit"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer explicit" {
		t.Errorf("Authorization = %q, want the configured token", gotAuth)
	}
}

func TestPathsAreEscaped(t *testing.T) {
	var gotPath, gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.EscapedPath(), r.URL.RawQuery
		writeJSON(w, 200, map[string]any{})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{})
	ctx := context.Background()
	if _, err := c.Apps.Get(ctx, "a/b", "c d"); err != nil {
		t.Fatal(err)
	}
	if gotPath != "/v1/spaces/a%2Fb/apps/c%20d" {
		t.Errorf("path = %q", gotPath)
	}
	if _, err := c.Events.List(ctx, paved.ListEventsOptions{After: 41, Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if gotPath != "/v1/events" || gotQuery != "after=41&limit=5" {
		t.Errorf("events request = %s?%s", gotPath, gotQuery)
	}
	if _, err := c.Builds.Log(ctx, "s", "a", 9); err != nil {
		t.Fatal(err)
	}
	if gotPath != "/v1/spaces/s/apps/a/builds/9/log" {
		t.Errorf("build log path = %q", gotPath)
	}
}

func TestLogsStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/spaces/demo/apps/missing/logs" {
			writeAPIError(w, 404, paved.CodeNotFound, "no such app", "")
			return
		}
		if q := r.URL.RawQuery; q != "tail=100&follow=false" {
			t.Errorf("query = %q", q)
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		enc.Encode(paved.LogLine{Instance: "i1", Stream: "stdout", Text: "hello"})
		enc.Encode(paved.LogLine{Instance: "i1", Stream: "stderr", Text: "world"})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{})
	var got []string
	err := c.Logs.Stream(context.Background(), "demo", "web", paved.LogsOptions{}, func(l paved.LogLine) error {
		got = append(got, l.Stream+":"+l.Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[stdout:hello stderr:world]" {
		t.Errorf("lines = %v", got)
	}
	err = c.Logs.Stream(context.Background(), "demo", "missing", paved.LogsOptions{}, func(paved.LogLine) error { return nil })
	if !paved.IsNotFound(err) {
		t.Errorf("err = %v, want not found", err)
	}
}

// A 429 is the cell's rate limiter answering before it acted: even a POST
// without an idempotency key is sent again, and more often than MaxRetries
// allows for errors, until the cell lets it through.
func TestThrottledPostIsRetriedUntilLetThrough(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 6 {
			writeAPIError(w, http.StatusTooManyRequests, paved.CodeRateLimited, "slow down", "")
			return
		}
		writeJSON(w, 201, paved.Space{Name: "shop"})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, paved.Config{MaxRetries: 2})
	sp, err := c.Spaces.Create(context.Background(), paved.SpaceSpec{Name: "shop"})
	if err != nil || sp.Name != "shop" {
		t.Fatalf("Create: %+v, %v", sp, err)
	}
	if n := calls.Load(); n != 7 {
		t.Errorf("server saw %d requests, want 7 (6 throttled, then through)", n)
	}
	// Retries disabled means disabled.
	calls.Store(0)
	off := newTestClient(t, srv.URL, paved.Config{MaxRetries: -1})
	if _, err := off.Spaces.Create(context.Background(), paved.SpaceSpec{Name: "shop"}); !errors.Is(err, paved.ErrUnavailable) && err == nil {
		t.Fatalf("with retries off a 429 must fail, got %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("with retries off the server saw %d requests, want 1", n)
	}
}
