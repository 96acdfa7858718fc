package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one request of the load generator.
type sample struct {
	start, end time.Time
	status     int    // HTTP status; 0 when the request failed at the transport
	inst       string // X-Paved-Instance of the response
	err        string // transport error, when status is 0
}

func (s sample) ok() bool { return s.status == http.StatusOK }

// loadGen is an open-loop load generator: a ticker decides when requests
// are due (rate per second, independent of how fast answers come back) and
// hands them to a pool of workers sharing one keep-alive transport. A due
// request that finds every worker busy and the queue full is not sent and
// is counted as skipped, so a saturated generator shows in the report
// instead of silently lowering the rate.
type loadGen struct {
	url, host string
	rate      float64
	workers   int
	client    *http.Client

	jobs    chan struct{}
	stopped chan struct{}
	skipped atomic.Int64
	wg      sync.WaitGroup
	per     [][]sample

	began, ended time.Time
	stopOnce     sync.Once
}

func newLoadGen(routerAddr, host string, rate float64, workers int) *loadGen {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, never through an environment proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &loadGen{
		url:     "http://" + routerAddr + "/",
		host:    host,
		rate:    rate,
		workers: workers,
		client:  &http.Client{Transport: tr, Timeout: 10 * time.Second},
		jobs:    make(chan struct{}, workers),
		stopped: make(chan struct{}),
		per:     make([][]sample, workers),
	}
}

// start runs the load until stop is called or hard ends (which also aborts
// requests in flight; stop lets them finish).
func (l *loadGen) start(hard context.Context) {
	l.began = time.Now()
	for w := range l.workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			out := make([]sample, 0, 1024)
			for range l.jobs {
				out = append(out, l.one(hard))
			}
			l.per[w] = out
		}()
	}
	go func() {
		defer close(l.jobs)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var sent int64
		for {
			select {
			case <-hard.Done():
				return
			case <-l.stopped:
				return
			case now := <-t.C:
				due := int64(l.rate * now.Sub(l.began).Seconds())
				for ; sent < due; sent++ {
					select {
					case l.jobs <- struct{}{}:
					default:
						l.skipped.Add(1)
					}
				}
			}
		}
	}()
}

func (l *loadGen) one(ctx context.Context) sample {
	s := sample{start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		s.err, s.end = err.Error(), time.Now()
		return s
	}
	req.Host = l.host
	resp, err := l.client.Do(req)
	if err != nil {
		s.err, s.end = err.Error(), time.Now()
		return s
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.end = time.Now()
	s.inst = resp.Header.Get("X-Paved-Instance")
	if err != nil {
		s.err = "reading the body: " + err.Error()
		return s
	}
	s.status = resp.StatusCode
	return s
}

// stop ends the load, waits for the requests in flight and returns every
// sample ordered by the time its response completed.
func (l *loadGen) stop() []sample {
	l.stopOnce.Do(func() { close(l.stopped) })
	l.wg.Wait()
	l.ended = time.Now()
	var all []sample
	for _, p := range l.per {
		all = append(all, p...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].end.Before(all[j].end) })
	return all
}

func (l *loadGen) duration() time.Duration { return l.ended.Sub(l.began) }

// summary is what the reports say about a load run.
type summary struct {
	total, failed, transport int
	byStatus                 map[int]int
	firstErr                 string
	byRelease                map[int]int // responses per release, from X-Paved-Instance
	unattributed             int         // responses without a parsable instance id
	p50, p99, max            time.Duration
}

func summarize(samples []sample, space, app string) summary {
	s := summary{total: len(samples), byStatus: map[int]int{}, byRelease: map[int]int{}}
	lat := make([]time.Duration, 0, len(samples))
	for _, x := range samples {
		lat = append(lat, x.end.Sub(x.start))
		if r, ok := releaseOf(x.inst, space, app); ok {
			s.byRelease[r]++
		} else {
			s.unattributed++
		}
		if x.ok() {
			continue
		}
		s.failed++
		if x.status == 0 {
			s.transport++
			if s.firstErr == "" {
				s.firstErr = x.err
			}
		} else {
			s.byStatus[x.status]++
			if s.firstErr == "" {
				s.firstErr = "HTTP " + strconv.Itoa(x.status) + " from " + orNone(x.inst)
			}
		}
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		s.p50, s.p99, s.max = lat[n*50/100], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return s
}

// releaseOf reads the release from an instance id "SPACE-APP-RELEASE-HEX".
func releaseOf(inst, space, app string) (int, bool) {
	rest, ok := strings.CutPrefix(inst, space+"-"+app+"-")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	r, err := strconv.Atoi(num)
	return r, err == nil
}

func orNone(s string) string {
	if s == "" {
		return "(no X-Paved-Instance)"
	}
	return s
}
