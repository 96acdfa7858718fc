// Package health decides whether an instance may receive traffic. A Monitor
// runs one check loop per instance (http, tcp or process) and reports every
// change of an instance's health to a callback; the router only ever sees
// instances the monitor last found healthy.
package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Defaults for a check that leaves fields unset.
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = time.Second
	DefaultGrace    = 60 * time.Second
	// startupPoll is how often a not-yet-healthy instance is probed, so a
	// fresh instance takes traffic within a fraction of a second of being
	// ready rather than a whole interval later.
	startupPoll = 100 * time.Millisecond
	// failuresToUnhealthy consecutive failures take a healthy instance out
	// of the router; one blip is not enough.
	failuresToUnhealthy = 2
)

// WithDefaults fills unset fields of a check (nil means a process check).
func WithDefaults(c *paved.HealthCheck) paved.HealthCheck {
	out := paved.HealthCheck{Type: paved.HealthProcess}
	if c != nil {
		out = *c
	}
	if out.Type == "" {
		out.Type = paved.HealthProcess
	}
	if out.Type == paved.HealthHTTP && out.Path == "" {
		out.Path = "/"
	}
	if out.Interval == 0 {
		out.Interval = paved.Duration(DefaultInterval)
	}
	if out.Timeout == 0 {
		out.Timeout = paved.Duration(DefaultTimeout)
	}
	if out.Grace == 0 {
		out.Grace = paved.Duration(DefaultGrace)
	}
	return out
}

// Target is one instance to watch.
type Target struct {
	ID    string
	Addr  string // host:port the instance listens on
	Check paved.HealthCheck
	// Alive reports whether the process is up; a dead process is unhealthy
	// whatever the check type.
	Alive func() bool
}

// Monitor runs the checks. It is safe for concurrent use.
type Monitor struct {
	onChange func(id string, healthy bool)
	client   *http.Client

	mu      sync.Mutex
	watches map[string]*watch
}

type watch struct {
	target  Target
	cancel  context.CancelFunc
	healthy bool
	reset   chan struct{}
}

// NewMonitor returns a monitor that calls onChange (outside its locks) each
// time an instance turns healthy or unhealthy.
func NewMonitor(onChange func(id string, healthy bool)) *Monitor {
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true, // a check must not hold one of the app's connections
		DialContext:       (&net.Dialer{Timeout: DefaultTimeout}).DialContext,
	}
	return &Monitor{
		onChange: onChange,
		client:   &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		watches:  map[string]*watch{},
	}
}

// Watch starts checking an instance; it starts unhealthy.
func (m *Monitor) Watch(t Target) {
	t.Check = WithDefaults(&t.Check)
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch{target: t, cancel: cancel, reset: make(chan struct{}, 1)}
	m.mu.Lock()
	if old := m.watches[t.ID]; old != nil {
		old.cancel()
	}
	m.watches[t.ID] = w
	m.mu.Unlock()
	go m.loop(ctx, w)
}

// Unwatch stops checking an instance and forgets it.
func (m *Monitor) Unwatch(id string) {
	m.mu.Lock()
	w := m.watches[id]
	delete(m.watches, id)
	m.mu.Unlock()
	if w != nil {
		w.cancel()
	}
}

// Healthy reports the last verdict for an instance.
func (m *Monitor) Healthy(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.watches[id]
	return w != nil && w.healthy
}

// MarkUnhealthy takes an instance out of traffic at once (its process just
// exited) and makes its loop probe quickly until it is back.
func (m *Monitor) MarkUnhealthy(id string) {
	m.mu.Lock()
	w := m.watches[id]
	m.mu.Unlock()
	if w == nil {
		return
	}
	m.set(w, false)
	select {
	case w.reset <- struct{}{}:
	default:
	}
}

func (m *Monitor) set(w *watch, healthy bool) {
	m.mu.Lock()
	changed := w.healthy != healthy && m.watches[w.target.ID] == w
	w.healthy = healthy
	m.mu.Unlock()
	if changed && m.onChange != nil {
		m.onChange(w.target.ID, healthy)
	}
}

func (m *Monitor) loop(ctx context.Context, w *watch) {
	failures := 0
	for {
		ok := m.probe(ctx, w.target)
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		healthy := w.healthy
		m.mu.Unlock()
		switch {
		case ok:
			failures = 0
			m.set(w, true)
		case !healthy:
		default:
			failures++
			if failures >= failuresToUnhealthy || !aliveOrUnknown(w.target) {
				m.set(w, false)
				failures = 0
			}
		}
		m.mu.Lock()
		healthy = w.healthy
		m.mu.Unlock()
		next := w.target.Check.Interval.D()
		if !healthy || failures > 0 {
			next = min(next, startupPoll)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.reset:
			failures = 0
		case <-time.After(next):
		}
	}
}

func aliveOrUnknown(t Target) bool { return t.Alive == nil || t.Alive() }

// probe runs one check.
func (m *Monitor) probe(ctx context.Context, t Target) bool {
	if !aliveOrUnknown(t) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, t.Check.Timeout.D())
	defer cancel()
	switch t.Check.Type {
	case paved.HealthHTTP:
		return m.probeHTTP(ctx, t) == nil
	case paved.HealthTCP:
		return probeTCP(ctx, t.Addr) == nil
	default: // process: alive is enough
		return true
	}
}

func (m *Monitor) probeHTTP(ctx context.Context, t Target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.Addr+t.Check.Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "paved-health")
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func probeTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}
