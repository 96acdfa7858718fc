// Package donationload drives the donations example (examples/donations)
// the way a donation night does: donations spread over every region's
// router, each with a client-chosen idempotency key, and a failed request
// retried at once on the next router with the same key. It records every
// acknowledged donation, so a test can check none was lost or counted
// twice, and how long requests kept failing before a retry succeeded. The
// terratest suite and the donations benchmark share it.
package donationload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one load run.
type Config struct {
	Routers []string // base URLs of the regions' routers, e.g. http://127.0.0.1:7480
	Host    string   // the global host the routers serve the app under
	// Rate is donations started per second; 0 = as fast as Workers allow.
	Rate     int
	Duration time.Duration
	Workers  int    // concurrent donors; default 64
	Prefix   string // key prefix, unique per run
	// AtHalf, when set, runs once (in its own goroutine) when half of
	// Duration has passed: the moment a test kills a region.
	AtHalf func()
	// GiveUp bounds how long one donation is retried; default 30s.
	GiveUp time.Duration
}

// Result is what a run saw.
type Result struct {
	Acked    map[string]int64 // key → amount of every acknowledged donation
	Started  int              // donations started
	Attempts int64            // requests sent, retries included
	Failed   int64            // attempts that failed (connection error or 5xx)
	Lost     []string         // donations never acknowledged before GiveUp
	Elapsed  time.Duration
	// FailureWindow is the longest time one donation spent between its
	// first failed attempt and its acknowledgement: how long a client
	// could see failures before a retry on another region succeeded.
	FailureWindow time.Duration
	// FirstFailure and LastFailure bound the period in which any attempt
	// failed (zero when none did).
	FirstFailure, LastFailure time.Time
	Latencies                 []time.Duration // per acknowledged donation, retries included; sorted
}

// Rate is acknowledged donations per second over the run.
func (r *Result) Rate() float64 { return float64(len(r.Acked)) / r.Elapsed.Seconds() }

// Percentile of the per-donation latency (p in 0..100).
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies)-1) * p / 100)
	return r.Latencies[i]
}

// Amount is the deterministic amount, in cents, of donation n.
func Amount(n int) int64 { return 100 + int64(n%900) }

// Run drives the load until Duration has passed and every started donation
// is acknowledged or given up.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Routers) == 0 || cfg.Host == "" || cfg.Duration <= 0 {
		return nil, fmt.Errorf("donationload: need routers, a host and a duration")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.GiveUp <= 0 {
		cfg.GiveUp = 30 * time.Second
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConnsPerHost: cfg.Workers,
		},
	}
	defer client.CloseIdleConnections()

	d := &donor{cfg: cfg, client: client, res: &Result{Acked: map[string]int64{}}}
	jobs := make(chan int, cfg.Workers)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				d.donate(ctx, n)
			}
		}()
	}
	start := time.Now()
	if cfg.AtHalf != nil {
		t := time.AfterFunc(cfg.Duration/2, cfg.AtHalf)
		defer t.Stop()
	}
	n := d.feed(ctx, jobs, start)
	close(jobs)
	wg.Wait()
	d.res.Elapsed = time.Since(start)
	d.res.Started = n
	sort.Slice(d.res.Latencies, func(i, j int) bool { return d.res.Latencies[i] < d.res.Latencies[j] })
	return d.res, ctx.Err()
}

type donor struct {
	cfg      Config
	client   *http.Client
	attempts atomic.Int64
	failed   atomic.Int64

	mu  sync.Mutex
	res *Result
}

// feed hands out donation numbers at the configured rate until Duration.
func (d *donor) feed(ctx context.Context, jobs chan<- int, start time.Time) int {
	n := 0
	for time.Since(start) < d.cfg.Duration && ctx.Err() == nil {
		if d.cfg.Rate > 0 {
			// Pace by schedule, not by sleeping a fixed gap, so slow
			// moments are caught up and the average rate holds.
			due := start.Add(time.Duration(n) * time.Second / time.Duration(d.cfg.Rate))
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			}
		}
		select {
		case jobs <- n:
			n++
		case <-ctx.Done():
		}
	}
	return n
}

// donate sends donation n until a router acknowledges it, moving to the
// next router after each failure.
func (d *donor) donate(ctx context.Context, n int) {
	key := fmt.Sprintf("%s-%d", d.cfg.Prefix, n)
	amount := Amount(n)
	body, _ := json.Marshal(map[string]any{"key": key, "amount": amount})
	began := time.Now()
	var firstFail time.Time
	for try := 0; ; try++ {
		if ctx.Err() != nil || time.Since(began) > d.cfg.GiveUp {
			d.mu.Lock()
			d.res.Lost = append(d.res.Lost, key)
			d.mu.Unlock()
			return
		}
		router := d.cfg.Routers[(n+try)%len(d.cfg.Routers)]
		d.attempts.Add(1)
		err := d.post(ctx, router, body)
		now := time.Now()
		if err == nil {
			d.mu.Lock()
			d.res.Acked[key] = amount
			d.res.Latencies = append(d.res.Latencies, now.Sub(began))
			if !firstFail.IsZero() {
				d.res.FailureWindow = max(d.res.FailureWindow, now.Sub(firstFail))
			}
			d.res.Attempts, d.res.Failed = d.attempts.Load(), d.failed.Load()
			d.mu.Unlock()
			return
		}
		d.failed.Add(1)
		d.mu.Lock()
		if firstFail.IsZero() {
			firstFail = now
		}
		if d.res.FirstFailure.IsZero() || now.Before(d.res.FirstFailure) {
			d.res.FirstFailure = now
		}
		if now.After(d.res.LastFailure) {
			d.res.LastFailure = now
		}
		d.mu.Unlock()
		if (try+1)%len(d.cfg.Routers) == 0 {
			// Every router failed this round: back off a little.
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// post sends one attempt. 201 (new) and 200 (a duplicate of an earlier
// attempt that did land) both acknowledge; anything else is a failure.
func (d *donor) post(ctx context.Context, router string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, router+"/donate", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Host = d.cfg.Host
	req.Header.Set("Content-Type", "application/json")
	res, err := d.client.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s: %s %s", router, res.Status, msg)
	}
	return nil
}
