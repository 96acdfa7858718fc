package paved

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is where a cell's API listens unless told otherwise.
const DefaultEndpoint = "http://127.0.0.1:7400"

// Config configures a Client. Zero values take the defaults noted.
type Config struct {
	Endpoint   string        // default $PAVED_ENDPOINT, else DefaultEndpoint
	Token      string        // default $PAVED_TOKEN
	HTTPClient *http.Client  // default a client with a 30s timeout per attempt
	UserAgent  string        // default "paved-go"
	MaxRetries int           // retries of 429/503 and connection failures; default 4, -1 = none
	RetryMin   time.Duration // first backoff; default 250ms
	RetryMax   time.Duration // cap on one backoff; default 5s
	// PollInterval is how often Wait-style calls poll; default 250ms.
	PollInterval time.Duration
	// CACert is a PEM bundle trusted for an https endpoint in addition to
	// the system's roots (a cell with a private CA or a self-signed
	// certificate). Default $PAVED_CA_CERT, a path. Ignored with HTTPClient.
	CACert []byte
	// Insecure skips verifying the cell's certificate. For a first try
	// against a self-signed cell only: anyone on the path can read the
	// token. Default true when $PAVED_INSECURE is "1" or "true".
	Insecure bool
}

// Client talks to one cell. It is safe for concurrent use.
type Client struct {
	endpoint     string
	token        string
	http         *http.Client
	userAgent    string
	maxRetries   int
	retryMin     time.Duration
	retryMax     time.Duration
	pollInterval time.Duration

	Spaces       Spaces
	Apps         Apps
	Sources      Sources
	Builds       Builds
	Releases     Releases
	Events       Events
	Logs         Logs
	Deployments  Deployments
	Pipelines    Pipelines
	Environments Environments
	Snapshots    Snapshots
	// ReplicaSets is this cell's record of the replica sets it serves
	// (written by the multi-region fan-out, see Regions).
	ReplicaSets ReplicaSetRecords
	// Tokens are the cell's API tokens and their roles (admin only).
	Tokens Tokens
	// ServiceBrokers, ServiceOfferings, ServiceInstances and
	// ServiceBindings are the cell's backing services (see services.go).
	ServiceBrokers   ServiceBrokers
	ServiceOfferings ServiceOfferings
	ServiceInstances ServiceInstances
	ServiceBindings  ServiceBindings
}

// NewClient returns a client for the cell at cfg.Endpoint.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = os.Getenv("PAVED_ENDPOINT")
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.Token == "" {
		cfg.Token = os.Getenv("PAVED_TOKEN")
	}
	ep := strings.TrimRight(cfg.Endpoint, "/")
	if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
		return nil, fmt.Errorf("endpoint %q must start with http:// or https://", cfg.Endpoint)
	}
	c := &Client{
		endpoint:     ep,
		token:        cfg.Token,
		http:         cfg.HTTPClient,
		userAgent:    cfg.UserAgent,
		maxRetries:   cfg.MaxRetries,
		retryMin:     cfg.RetryMin,
		retryMax:     cfg.RetryMax,
		pollInterval: cfg.PollInterval,
	}
	if c.http == nil {
		tr, err := tlsTransport(cfg)
		if err != nil {
			return nil, err
		}
		c.http = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	if c.userAgent == "" {
		c.userAgent = "paved-go"
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = 4
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.retryMin == 0 {
		c.retryMin = 250 * time.Millisecond
	}
	if c.retryMax == 0 {
		c.retryMax = 5 * time.Second
	}
	if c.pollInterval == 0 {
		c.pollInterval = 250 * time.Millisecond
	}
	c.Spaces = spaces{c}
	c.Apps = apps{c}
	c.Sources = sources{c}
	c.Builds = builds{c}
	c.Releases = releases{c}
	c.Events = events{c}
	c.Logs = logs{c}
	c.Deployments = deployments{c}
	c.Pipelines = pipelines{c}
	c.Environments = environments{c}
	c.Snapshots = snapshots{c}
	c.ReplicaSets = replicaSetRecords{c}
	c.Tokens = tokens{c}
	c.ServiceBrokers = serviceBrokers{c}
	c.ServiceOfferings = serviceOfferings{c}
	c.ServiceInstances = serviceInstances{c}
	c.ServiceBindings = serviceBindings{c}
	return c, nil
}

// tlsTransport is the default transport, trusting cfg.CACert (or the file
// $PAVED_CA_CERT names) besides the system roots, or nothing at all when
// cfg.Insecure. It returns nil (http.DefaultTransport) when neither is set.
func tlsTransport(cfg Config) (http.RoundTripper, error) {
	pem := cfg.CACert
	if len(pem) == 0 {
		if path := os.Getenv("PAVED_CA_CERT"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("PAVED_CA_CERT: %w", err)
			}
			pem = b
		}
	}
	insecure := cfg.Insecure
	if v := os.Getenv("PAVED_INSECURE"); v == "1" || strings.EqualFold(v, "true") {
		insecure = true
	}
	if len(pem) == 0 && !insecure {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if len(pem) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("the CA certificate is not PEM: expected one or more -----BEGIN CERTIFICATE----- blocks")
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return tr, nil
}

// Endpoint is the cell API address this client talks to.
func (c *Client) Endpoint() string { return c.endpoint }

// WriteOption adjusts a create, update or delete request.
type WriteOption func(*http.Request)

// IfMatch makes the write fail with ErrConflict unless the object is still
// at this version (optimistic concurrency).
func IfMatch(version int64) WriteOption {
	return func(r *http.Request) { r.Header.Set("If-Match", strconv.Quote(strconv.FormatInt(version, 10))) }
}

// IdempotencyKey makes a create safe to retry: the cell answers a repeated
// key with the first answer instead of creating twice.
func IdempotencyKey(key string) WriteOption {
	return func(r *http.Request) { r.Header.Set("Idempotency-Key", key) }
}

// IsNotFound is shorthand for errors.Is(err, ErrNotFound).
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// do sends a JSON request and decodes a JSON answer into out (when non-nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any, opts ...WriteOption) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	newBody := func() io.Reader { return bytes.NewReader(body) }
	if in == nil {
		newBody = nil
	}
	return c.doRaw(ctx, method, path, "application/json", newBody, int64(len(body)), out, opts...)
}

// doRaw sends a request whose body newBody makes afresh for every attempt.
func (c *Client) doRaw(ctx context.Context, method, path, contentType string, newBody func() io.Reader, size int64, out any, opts ...WriteOption) error {
	// A POST is only retried when an idempotency key makes it safe.
	probe, _ := http.NewRequest(method, "/", nil)
	for _, o := range opts {
		o(probe)
	}
	retryable := method != http.MethodPost || probe.Header.Get("Idempotency-Key") != ""

	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, method, path, contentType, newBody, size, opts)
		wait, again := c.shouldRetry(ctx, resp, err, retryable, attempt)
		if !again {
			if err != nil {
				return c.transportError(ctx, err)
			}
			defer resp.Body.Close()
			return decodeResponse(resp, method, out)
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drained for keep-alive, best effort
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *Client) send(ctx context.Context, method, path, contentType string, newBody func() io.Reader, size int64, opts []WriteOption) (*http.Response, error) {
	var body io.Reader
	if newBody != nil {
		body = newBody()
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for _, o := range opts {
		o(req)
	}
	return c.http.Do(req)
}

// maxThrottledAttempts bounds the retries of 429 answers (each waits the
// Retry-After the cell asks for, a second or so), as a safety net for
// callers without a deadline.
const maxThrottledAttempts = 120

// maxThrottleWait is the longest Retry-After still taken for throttling
// (the rate limiter asks for about a second).
const maxThrottleWait = 2 * time.Second

// shouldRetry decides whether to try again and after how long: 429 and 503
// (honouring Retry-After) and connection failures, with jittered backoff.
func (c *Client) shouldRetry(ctx context.Context, resp *http.Response, err error, retryable bool, attempt int) (time.Duration, bool) {
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests && c.maxRetries > 0 && attempt < maxThrottledAttempts {
		// The cell's rate limiter answered before acting on the request,
		// so even a POST is safe to send again; being throttled is back
		// pressure to wait out, not a failure (an apply of a thousand
		// resources meets it), so it gets far more attempts than errors do.
		// A long Retry-After is the cell's backoff after failed logins,
		// which a wrong token must not sit out: that takes the usual rules.
		switch ra := parseRetryAfter(resp.Header.Get("Retry-After")); {
		case ra <= 0:
			return c.backoff(attempt), true
		case ra <= maxThrottleWait:
			return ra, true
		}
	}
	if attempt >= c.maxRetries || !retryable {
		return 0, false
	}
	if err != nil {
		// A timed-out attempt (http.Client.Timeout) is retried; the caller's
		// own cancellation is not. (A retryable answer goes on to the wait,
		// which reports a cancellation as the context's error.)
		return c.backoff(attempt), ctx.Err() == nil
	}
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	if ra := parseRetryAfter(resp.Header.Get("Retry-After")); ra > 0 {
		return ra, true
	}
	return c.backoff(attempt), true
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryMin << attempt
	if d > c.retryMax || d <= 0 {
		d = c.retryMax
	}
	// Full jitter keeps many clients from retrying in lock step.
	return d/2 + rand.N(d/2+1)
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// transportError names the endpoint, because "connection refused" alone
// does not tell a user which cell is down. The caller's own cancellation or
// deadline is returned as it is: the cell did nothing wrong.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	var oe *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &dnsErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach the paved cell at %s: %w (%w)", c.endpoint, err, ErrUnavailable)
	}
	return err
}

func decodeResponse(resp *http.Response, method string, out any) error {
	if resp.StatusCode >= 400 {
		apiErr := &APIError{Status: resp.StatusCode}
		var env ErrorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if method != http.MethodHead && json.Unmarshal(data, &env) == nil && env.Error != nil {
			env.Error.Status = resp.StatusCode
			return env.Error
		}
		apiErr.Code = statusCode(resp.StatusCode)
		apiErr.Message = strings.TrimSpace(string(data))
		if apiErr.Message == "" {
			apiErr.Message = http.StatusText(resp.StatusCode)
		}
		return apiErr
	}
	if out == nil || method == http.MethodHead || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s response: %w", method, err)
	}
	return nil
}

func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusConflict, http.StatusPreconditionFailed:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusUnprocessableEntity:
		return CodeValidation
	case http.StatusTooManyRequests:
		return CodeRateLimited
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	}
	return CodeInternal
}

// stream opens a long-lived GET (logs) with no overall client timeout.
func (c *Client) stream(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, decodeResponse(resp, http.MethodGet, nil)
	}
	return resp, nil
}
