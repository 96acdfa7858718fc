package osb

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ErrGone is a 410 answer: the instance or binding does not exist (for a
// deprovision or unbind, or its last_operation, that is success).
var ErrGone = errors.New("osb: gone")

// ErrOrphanRisk marks a failed provision or bind whose outcome the broker
// did not tell: a timeout, a 5xx, or a 201/200 whose body is not valid.
// The broker may have made the resource; the specification asks the
// platform to delete it (orphan mitigation).
var ErrOrphanRisk = errors.New("osb: the broker may have made it anyway")

// ClientOptions configure a Client.
type ClientOptions struct {
	URL                string // the broker's base URL; /v2/… is added
	Username, Password string
	HTTPClient         *http.Client // default: 60s timeout, as the specification's minimum
}

// Client is the platform side of the protocol.
type Client struct {
	base *url.URL
	opts ClientOptions
	hc   *http.Client
}

// NewClient checks the options.
func NewClient(opts ClientOptions) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(opts.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("broker URL %q: want http(s)://host[:port][/path]", opts.URL)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: u, opts: opts, hc: hc}, nil
}

type identityKey struct{}

// WithOriginatingIdentity makes the requests under ctx carry
// X-Broker-API-Originating-Identity for user (platform "paved").
func WithOriginatingIdentity(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, identityKey{}, user)
}

func originatingIdentity(ctx context.Context) string {
	user, _ := ctx.Value(identityKey{}).(string)
	if user == "" {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"user_id": user})
	return "paved " + base64.StdEncoding.EncodeToString(b)
}

// response is one answer, read whole.
type response struct {
	status     int
	body       []byte
	retryAfter time.Duration
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, in any) (*response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.opts.Username, c.opts.Password)
	req.Header.Set(HeaderAPIVersion, APIVersion)
	req.Header.Set(HeaderRequestIdentity, uuid.NewString())
	if id := originatingIdentity(ctx); id != "" {
		req.Header.Set(HeaderOriginatingIdentity, id)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	r := &response{status: resp.StatusCode, body: b}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		r.retryAfter = time.Duration(s) * time.Second
	}
	return r, nil
}

// brokerError reads a non-2xx answer.
func (r *response) brokerError() error {
	if r.status == http.StatusGone {
		return ErrGone
	}
	e := &Error{Status: r.status}
	_ = json.Unmarshal(r.body, e)
	if e.Description == "" && e.Code == "" {
		e.Description = strings.TrimSpace(string(r.body))
	}
	return e
}

func (r *response) decode(v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("the broker's %d answer is not valid JSON: %w", r.status, err)
	}
	return nil
}

// Catalog reads the broker's catalog.
func (c *Client) Catalog(ctx context.Context) (Catalog, error) {
	var cat Catalog
	r, err := c.do(ctx, http.MethodGet, "/v2/catalog", nil, nil)
	if err != nil {
		return cat, err
	}
	if r.status != http.StatusOK {
		return cat, fmt.Errorf("catalog: %w", r.brokerError())
	}
	return cat, r.decode(&cat)
}

func incomplete(async bool) url.Values {
	q := url.Values{}
	if async {
		q.Set("accepts_incomplete", "true")
	}
	return q
}

// creation reads the answer to a provision or a bind: 201 made, 200 there
// before, 202 under way. What leaves the outcome unknown wraps
// ErrOrphanRisk.
func creation(r *response, err error, v any) (Result, error) {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("%w: %w", ErrOrphanRisk, err)
	}
	switch r.status {
	case http.StatusCreated, http.StatusOK, http.StatusAccepted:
		if err := r.decode(v); err != nil {
			if r.status == http.StatusAccepted {
				return Result{}, err
			}
			return Result{}, fmt.Errorf("%w: %w", ErrOrphanRisk, err)
		}
		return Result{Async: r.status == http.StatusAccepted, Existed: r.status == http.StatusOK}, nil
	}
	if r.status >= 500 || r.status == http.StatusRequestTimeout {
		return Result{}, fmt.Errorf("%w: %w", ErrOrphanRisk, r.brokerError())
	}
	return Result{}, r.brokerError()
}

// Provision asks for an instance. async says the platform accepts an
// answer that is not final (202), to be polled with LastOperation.
func (c *Client) Provision(ctx context.Context, instanceID string, req ProvisionRequest, async bool) (Result, error) {
	var body ProvisionResponse
	r, err := c.do(ctx, http.MethodPut, "/v2/service_instances/"+url.PathEscape(instanceID), incomplete(async), req)
	res, err := creation(r, err, &body)
	if err != nil {
		return res, fmt.Errorf("provision %s: %w", instanceID, err)
	}
	res.Operation, res.DashboardURL = body.Operation, body.DashboardURL
	return res, nil
}

// change reads the answer to an update, a deprovision or an unbind.
func change(r *response, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	switch r.status {
	case http.StatusOK, http.StatusAccepted:
		var body OperationResponse
		if len(bytes.TrimSpace(r.body)) > 0 {
			if err := r.decode(&body); err != nil {
				return Result{}, err
			}
		}
		return Result{Async: r.status == http.StatusAccepted, Operation: body.Operation, DashboardURL: body.DashboardURL}, nil
	}
	return Result{}, r.brokerError()
}

// Update changes an instance's plan or parameters.
func (c *Client) Update(ctx context.Context, instanceID string, req UpdateRequest, async bool) (Result, error) {
	res, err := change(c.do(ctx, http.MethodPatch, "/v2/service_instances/"+url.PathEscape(instanceID), incomplete(async), req))
	if err != nil {
		return res, fmt.Errorf("update %s: %w", instanceID, err)
	}
	return res, nil
}

// Deprovision deletes an instance; ErrGone means it did not exist.
func (c *Client) Deprovision(ctx context.Context, instanceID, serviceID, planID string, async bool) (Result, error) {
	q := incomplete(async)
	q.Set("service_id", serviceID)
	q.Set("plan_id", planID)
	res, err := change(c.do(ctx, http.MethodDelete, "/v2/service_instances/"+url.PathEscape(instanceID), q, nil))
	if err != nil {
		return res, fmt.Errorf("deprovision %s: %w", instanceID, err)
	}
	return res, nil
}

// LastOperation polls an instance's operation. retryAfter is the broker's
// Retry-After, if it sent one. ErrGone: the instance does not exist (the
// end of a deprovision).
func (c *Client) LastOperation(ctx context.Context, instanceID, serviceID, planID, operation string) (op LastOperation, retryAfter time.Duration, err error) {
	return c.lastOperation(ctx, "/v2/service_instances/"+url.PathEscape(instanceID)+"/last_operation", serviceID, planID, operation)
}

// LastBindingOperation polls a binding's operation.
func (c *Client) LastBindingOperation(ctx context.Context, instanceID, bindingID, serviceID, planID, operation string) (LastOperation, time.Duration, error) {
	return c.lastOperation(ctx, "/v2/service_instances/"+url.PathEscape(instanceID)+"/service_bindings/"+url.PathEscape(bindingID)+"/last_operation", serviceID, planID, operation)
}

func (c *Client) lastOperation(ctx context.Context, path, serviceID, planID, operation string) (LastOperation, time.Duration, error) {
	var op LastOperation
	q := url.Values{}
	for k, v := range map[string]string{"service_id": serviceID, "plan_id": planID, "operation": operation} {
		if v != "" {
			q.Set(k, v)
		}
	}
	r, err := c.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return op, 0, err
	}
	if r.status != http.StatusOK {
		return op, r.retryAfter, r.brokerError()
	}
	if err := r.decode(&op); err != nil {
		return op, r.retryAfter, err
	}
	switch op.State {
	case StateInProgress, StateSucceeded, StateFailed:
	default:
		return op, r.retryAfter, fmt.Errorf("last_operation state %q is none of the specification's", op.State)
	}
	return op, r.retryAfter, nil
}

// Bind makes a binding; its credentials are in the answer unless it is
// asynchronous (then GetBinding reads them once LastBindingOperation says
// it succeeded).
func (c *Client) Bind(ctx context.Context, instanceID, bindingID string, req BindRequest, async bool) (Binding, Result, error) {
	var b Binding
	r, err := c.do(ctx, http.MethodPut, "/v2/service_instances/"+url.PathEscape(instanceID)+"/service_bindings/"+url.PathEscape(bindingID), incomplete(async), req)
	res, err := creation(r, err, &b)
	if err != nil {
		return b, res, fmt.Errorf("bind %s to %s: %w", bindingID, instanceID, err)
	}
	res.Operation = b.Operation
	return b, res, nil
}

// Unbind deletes a binding; ErrGone means it did not exist.
func (c *Client) Unbind(ctx context.Context, instanceID, bindingID, serviceID, planID string, async bool) (Result, error) {
	q := incomplete(async)
	q.Set("service_id", serviceID)
	q.Set("plan_id", planID)
	res, err := change(c.do(ctx, http.MethodDelete, "/v2/service_instances/"+url.PathEscape(instanceID)+"/service_bindings/"+url.PathEscape(bindingID), q, nil))
	if err != nil {
		return res, fmt.Errorf("unbind %s from %s: %w", bindingID, instanceID, err)
	}
	return res, nil
}

// GetBinding reads a binding (bindings_retrievable).
func (c *Client) GetBinding(ctx context.Context, instanceID, bindingID string) (Binding, error) {
	var b Binding
	r, err := c.do(ctx, http.MethodGet, "/v2/service_instances/"+url.PathEscape(instanceID)+"/service_bindings/"+url.PathEscape(bindingID), nil, nil)
	if err != nil {
		return b, err
	}
	if r.status != http.StatusOK {
		return b, fmt.Errorf("binding %s: %w", bindingID, r.brokerError())
	}
	return b, r.decode(&b)
}

// GetInstance reads an instance (instances_retrievable).
func (c *Client) GetInstance(ctx context.Context, instanceID string) (Instance, error) {
	var in Instance
	r, err := c.do(ctx, http.MethodGet, "/v2/service_instances/"+url.PathEscape(instanceID), nil, nil)
	if err != nil {
		return in, err
	}
	if r.status != http.StatusOK {
		return in, fmt.Errorf("instance %s: %w", instanceID, r.brokerError())
	}
	return in, r.decode(&in)
}
