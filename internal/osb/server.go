package osb

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Broker is what a service broker implements; Handler speaks the protocol
// for it (authentication, version, routing, decoding, status codes). The
// Handler has checked, before a call, that service and plan IDs name an
// entry of Catalog. A method answers a protocol error by returning an
// *Error with its status (409 for an instance that exists with other
// attributes, 410 for one that is gone, 422 AsyncRequired, …).
type Broker interface {
	Catalog() Catalog
	Provision(ctx context.Context, instanceID string, req ProvisionRequest, async bool) (Result, error)
	Update(ctx context.Context, instanceID string, req UpdateRequest, async bool) (Result, error)
	Deprovision(ctx context.Context, instanceID, serviceID, planID string, async bool) (Result, error)
	GetInstance(ctx context.Context, instanceID string) (Instance, error)
	LastOperation(ctx context.Context, instanceID, operation string) (LastOperation, error)
	Bind(ctx context.Context, instanceID, bindingID string, req BindRequest, async bool) (BindResult, error)
	Unbind(ctx context.Context, instanceID, bindingID, serviceID, planID string, async bool) (Result, error)
	GetBinding(ctx context.Context, instanceID, bindingID string) (Binding, error)
	LastBindingOperation(ctx context.Context, instanceID, bindingID, operation string) (LastOperation, error)
}

// Result is a broker's answer to a change: done (Async false; Existed if
// the request changed nothing because it was done before), or started
// (Async true, with an Operation to poll).
type Result struct {
	Async        bool
	Existed      bool
	Operation    string
	DashboardURL string
}

// BindResult is a broker's answer to a bind.
type BindResult struct {
	Result
	Credentials map[string]any
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	Username, Password string // HTTP basic auth every request must carry
	// RetryAfter is sent with last_operation answers that are in
	// progress, in seconds; 0 sends none.
	RetryAfter int
	MaxBody    int64 // default 1 MiB
}

// Handler serves the broker's API under /v2.
func Handler(b Broker, opts HandlerOptions) http.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	h := &handler{b: b, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/catalog", h.catalog)
	mux.HandleFunc("PUT /v2/service_instances/{instance}", h.provision)
	mux.HandleFunc("PATCH /v2/service_instances/{instance}", h.update)
	mux.HandleFunc("DELETE /v2/service_instances/{instance}", h.deprovision)
	mux.HandleFunc("GET /v2/service_instances/{instance}", h.getInstance)
	mux.HandleFunc("GET /v2/service_instances/{instance}/last_operation", h.lastOperation)
	mux.HandleFunc("PUT /v2/service_instances/{instance}/service_bindings/{binding}", h.bind)
	mux.HandleFunc("DELETE /v2/service_instances/{instance}/service_bindings/{binding}", h.unbind)
	mux.HandleFunc("GET /v2/service_instances/{instance}/service_bindings/{binding}", h.getBinding)
	mux.HandleFunc("GET /v2/service_instances/{instance}/service_bindings/{binding}/last_operation", h.lastBindingOperation)
	return h.guard(mux)
}

type handler struct {
	b    Broker
	opts HandlerOptions
}

// guard checks what every request must carry: the credentials and an API
// version this broker speaks (412 otherwise, as the specification says).
func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(h.opts.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(h.opts.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="paved broker"`)
			writeJSON(w, http.StatusUnauthorized, Error{Description: "wrong or missing credentials"})
			return
		}
		if err := checkVersion(r.Header.Get(HeaderAPIVersion)); err != nil {
			writeJSON(w, http.StatusPreconditionFailed, Error{Description: err.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkVersion(v string) error {
	major, minor, ok := strings.Cut(v, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if v == "" || !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("%s %q: send the API version, e.g. %s", HeaderAPIVersion, v, APIVersion)
	}
	if ma != 2 || mi < 17 {
		return fmt.Errorf("%s %s is not supported: this broker speaks 2.17 and later 2.x", HeaderAPIVersion, v)
	}
	return nil
}

func (h *handler) catalog(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.b.Catalog())
}

func (h *handler) provision(w http.ResponseWriter, r *http.Request) {
	var req ProvisionRequest
	if !h.decode(w, r, &req) || !h.knownPlan(w, req.ServiceID, req.PlanID) {
		return
	}
	res, err := h.b.Provision(r.Context(), r.PathValue("instance"), req, acceptsIncomplete(r))
	if err != nil {
		writeError(w, err)
		return
	}
	body := ProvisionResponse{DashboardURL: res.DashboardURL, Operation: res.Operation}
	writeJSON(w, statusOf(res, http.StatusCreated), body)
}

func (h *handler) update(w http.ResponseWriter, r *http.Request) {
	var req UpdateRequest
	if !h.decode(w, r, &req) {
		return
	}
	if req.ServiceID == "" {
		writeJSON(w, http.StatusBadRequest, Error{Description: "service_id is required"})
		return
	}
	if req.PlanID != "" && !h.knownPlan(w, req.ServiceID, req.PlanID) {
		return
	}
	res, err := h.b.Update(r.Context(), r.PathValue("instance"), req, acceptsIncomplete(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, statusOf(res, http.StatusOK), OperationResponse{DashboardURL: res.DashboardURL, Operation: res.Operation})
}

func (h *handler) deprovision(w http.ResponseWriter, r *http.Request) {
	sid, pid, ok := h.idsFromQuery(w, r)
	if !ok {
		return
	}
	res, err := h.b.Deprovision(r.Context(), r.PathValue("instance"), sid, pid, acceptsIncomplete(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, statusOf(res, http.StatusOK), OperationResponse{Operation: res.Operation})
}

func (h *handler) getInstance(w http.ResponseWriter, r *http.Request) {
	in, err := h.b.GetInstance(r.Context(), r.PathValue("instance"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (h *handler) lastOperation(w http.ResponseWriter, r *http.Request) {
	op, err := h.b.LastOperation(r.Context(), r.PathValue("instance"), r.URL.Query().Get("operation"))
	h.writeOperation(w, op, err)
}

func (h *handler) bind(w http.ResponseWriter, r *http.Request) {
	var req BindRequest
	if !h.decode(w, r, &req) || !h.knownPlan(w, req.ServiceID, req.PlanID) {
		return
	}
	res, err := h.b.Bind(r.Context(), r.PathValue("instance"), r.PathValue("binding"), req, acceptsIncomplete(r))
	if err != nil {
		writeError(w, err)
		return
	}
	body := Binding{Operation: res.Operation}
	if !res.Async {
		body.Credentials = res.Credentials
	}
	writeJSON(w, statusOf(res.Result, http.StatusCreated), body)
}

func (h *handler) unbind(w http.ResponseWriter, r *http.Request) {
	sid, pid, ok := h.idsFromQuery(w, r)
	if !ok {
		return
	}
	res, err := h.b.Unbind(r.Context(), r.PathValue("instance"), r.PathValue("binding"), sid, pid, acceptsIncomplete(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, statusOf(res, http.StatusOK), OperationResponse{Operation: res.Operation})
}

func (h *handler) getBinding(w http.ResponseWriter, r *http.Request) {
	b, err := h.b.GetBinding(r.Context(), r.PathValue("instance"), r.PathValue("binding"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (h *handler) lastBindingOperation(w http.ResponseWriter, r *http.Request) {
	op, err := h.b.LastBindingOperation(r.Context(), r.PathValue("instance"), r.PathValue("binding"), r.URL.Query().Get("operation"))
	h.writeOperation(w, op, err)
}

func (h *handler) writeOperation(w http.ResponseWriter, op LastOperation, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	if op.State == StateInProgress && h.opts.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(h.opts.RetryAfter))
	}
	writeJSON(w, http.StatusOK, op)
}

// statusOf is the status of a change's answer: 202 for one under way, 200
// for one done before, else done (201 for a creation, 200 otherwise).
func statusOf(res Result, done int) int {
	switch {
	case res.Async:
		return http.StatusAccepted
	case res.Existed:
		return http.StatusOK
	}
	return done
}

func acceptsIncomplete(r *http.Request) bool {
	return r.URL.Query().Get("accepts_incomplete") == "true"
}

// decode reads a request body that must be one JSON object.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, h.opts.MaxBody+1))
	if err == nil && int64(len(body)) > h.opts.MaxBody {
		err = fmt.Errorf("the body is larger than %d bytes", h.opts.MaxBody)
	}
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, Error{Description: "the body is not a valid request: " + err.Error()})
		return false
	}
	return true
}

func (h *handler) knownPlan(w http.ResponseWriter, serviceID, planID string) bool {
	if serviceID == "" || planID == "" {
		writeJSON(w, http.StatusBadRequest, Error{Description: "service_id and plan_id are required"})
		return false
	}
	if _, _, ok := h.b.Catalog().Lookup(serviceID, planID); !ok {
		writeJSON(w, http.StatusBadRequest, Error{Description: fmt.Sprintf("the catalog has no plan %q of service %q", planID, serviceID)})
		return false
	}
	return true
}

func (h *handler) idsFromQuery(w http.ResponseWriter, r *http.Request) (serviceID, planID string, ok bool) {
	q := r.URL.Query()
	serviceID, planID = q.Get("service_id"), q.Get("plan_id")
	return serviceID, planID, h.knownPlan(w, serviceID, planID)
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if errors.As(err, &e) && e.Status != 0 {
		if e.Status == http.StatusGone {
			writeJSON(w, e.Status, struct{}{}) // the specification's body for 410
			return
		}
		writeJSON(w, e.Status, e)
		return
	}
	writeJSON(w, http.StatusInternalServerError, Error{Description: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
