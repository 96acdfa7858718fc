package osb

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// broker answers every request with status and body, and records the
// request's headers.
func broker(t *testing.T, status int, body string, header map[string]string) (*Client, *http.Header) {
	t.Helper()
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if status == 0 { // hang past the client's timeout
			time.Sleep(300 * time.Millisecond)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientOptions{URL: srv.URL, Username: "u", Password: "p", HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c, &got
}

// The specification's orphan mitigation: a provision or bind whose outcome
// is unknown (timeout, 5xx, 408, a 2xx body that is not valid) may have
// made the resource, and the platform must delete it; a 4xx did not.
func TestCreationOutcomes(t *testing.T) {
	req := ProvisionRequest{ServiceID: "s", PlanID: "p"}
	for _, tc := range []struct {
		name         string
		status       int
		body         string
		async, exist bool
		orphan       bool
		errStatus    int
	}{
		{name: "made", status: 201, body: `{}`},
		{name: "there before", status: 200, body: `{}`, exist: true},
		{name: "under way", status: 202, body: `{"operation":"op-1"}`, async: true},
		{name: "made, but the body is not JSON", status: 201, body: `<html>`, orphan: true},
		{name: "a server error", status: 500, body: `{"description":"boom"}`, orphan: true, errStatus: 500},
		{name: "a gateway timeout", status: 504, body: ``, orphan: true, errStatus: 504},
		{name: "a request timeout", status: 408, body: ``, orphan: true, errStatus: 408},
		{name: "no answer in time", status: 0, orphan: true},
		{name: "a conflict", status: 409, body: `{"description":"exists"}`, errStatus: 409},
		{name: "async required", status: 422, body: `{"error":"AsyncRequired","description":"only async"}`, errStatus: 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := broker(t, tc.status, tc.body, nil)
			res, err := c.Provision(context.Background(), "i-1", req, true)
			if got := errors.Is(err, ErrOrphanRisk); got != tc.orphan {
				t.Fatalf("orphan risk %v (err %v), want %v", got, err, tc.orphan)
			}
			if tc.errStatus != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != tc.errStatus {
					t.Fatalf("err %v, want a broker error with status %d", err, tc.errStatus)
				}
				return
			}
			if tc.orphan {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Async != tc.async || res.Existed != tc.exist || (tc.async && res.Operation != "op-1") {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestRequestsCarryTheHeaders(t *testing.T) {
	c, got := broker(t, 200, `{"services":[]}`, nil)
	ctx := WithOriginatingIdentity(context.Background(), "alice")
	if _, err := c.Catalog(ctx); err != nil {
		t.Fatal(err)
	}
	h := *got
	if h.Get(HeaderAPIVersion) != APIVersion {
		t.Errorf("version header %q", h.Get(HeaderAPIVersion))
	}
	if _, err := uuid.Parse(h.Get(HeaderRequestIdentity)); err != nil {
		t.Errorf("request identity %q is not a UUID", h.Get(HeaderRequestIdentity))
	}
	platform, value, _ := strings.Cut(h.Get(HeaderOriginatingIdentity), " ")
	decoded, err := base64.StdEncoding.DecodeString(value)
	if platform != "paved" || err != nil || string(decoded) != `{"user_id":"alice"}` {
		t.Errorf("originating identity %q (%s)", h.Get(HeaderOriginatingIdentity), decoded)
	}
	if user, pass, ok := (&http.Request{Header: h}).BasicAuth(); !ok || user != "u" || pass != "p" {
		t.Error("no basic auth")
	}
}

func TestLastOperation(t *testing.T) {
	c, _ := broker(t, 200, `{"state":"in progress","description":"copying"}`, map[string]string{"Retry-After": "7"})
	op, after, err := c.LastOperation(context.Background(), "i-1", "s", "p", "op-1")
	if err != nil || op.State != StateInProgress || after != 7*time.Second {
		t.Fatalf("%+v %s %v", op, after, err)
	}
	c, _ = broker(t, 410, `{}`, nil)
	if _, _, err := c.LastOperation(context.Background(), "i-1", "s", "p", "op-1"); !errors.Is(err, ErrGone) {
		t.Fatalf("410: %v, want ErrGone", err)
	}
	c, _ = broker(t, 200, `{"state":"done"}`, nil)
	if _, _, err := c.LastOperation(context.Background(), "i-1", "s", "p", ""); err == nil || !strings.Contains(err.Error(), `"done"`) {
		t.Fatalf("a state the specification lacks: %v", err)
	}
	c, _ = broker(t, 410, ``, nil)
	if _, err := c.Deprovision(context.Background(), "i-1", "s", "p", true); !errors.Is(err, ErrGone) {
		t.Fatalf("deprovision of what is gone: %v, want ErrGone", err)
	}
}

func TestNewClientRefusesABadURL(t *testing.T) {
	for _, u := range []string{"", "broker:8080", "ftp://b", "http://"} {
		if _, err := NewClient(ClientOptions{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}
