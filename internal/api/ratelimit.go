package api

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// rateLimiter is a token bucket per key (a principal): rate tokens a
// second, holding at most burst. (golang.org/x/time/rate is not in this
// module's graph; this is the few lines of it the API needs.)
type rateLimiter struct {
	mu        sync.Mutex
	rate      float64
	burst     float64
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newRateLimiter allows perSecond requests a second per key with a burst of
// twice that; nil (no limit) when perSecond <= 0.
func newRateLimiter(perSecond float64) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{rate: perSecond, burst: math.Max(1, 2*perSecond), buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket; when there is none it says how
// long until there is.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep forgets buckets idle long enough to be full again, once a minute.
func (l *rateLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) > full {
			delete(l.buckets, k)
		}
	}
}

// Backoff on failed authentication, per client address: after
// authFailLimit failures within authFailWindow the address is refused
// (429) for authBlockMin; every failure after a block blocks again for
// twice as long, up to authBlockMax. A successful authentication, or a
// window without failures after the last block, forgets the address.
const (
	authFailLimit  = 5
	authFailWindow = time.Minute
	authBlockMin   = time.Second
	authBlockMax   = time.Minute
)

type authBackoff struct {
	mu        sync.Mutex
	clients   map[string]*authFailures
	lastSweep time.Time
}

type authFailures struct {
	recent       []time.Time // failures within the window
	blockedUntil time.Time
	next         time.Duration // the next block's length; 0 before the first block
}

// quiet tells whether f has seen neither a failure nor a block for a window.
func (f *authFailures) quiet(now time.Time) bool {
	last := f.blockedUntil
	if n := len(f.recent); n > 0 && f.recent[n-1].After(last) {
		last = f.recent[n-1]
	}
	return now.Sub(last) > authFailWindow
}

func newAuthBackoff() *authBackoff { return &authBackoff{clients: map[string]*authFailures{}} }

// blocked tells whether ip is refused now, and for how much longer.
func (b *authBackoff) blocked(ip string, now time.Time) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.clients[ip]
	if f == nil || !now.Before(f.blockedUntil) {
		return 0, false
	}
	return f.blockedUntil.Sub(now), true
}

// failed records a failed authentication from ip.
func (b *authBackoff) failed(ip string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	f := b.clients[ip]
	if f == nil || f.quiet(now) {
		f = &authFailures{}
		b.clients[ip] = f
	}
	f.recent = append(pruneBefore(f.recent, now.Add(-authFailWindow)), now)
	if len(f.recent) > authFailLimit { // the window's newest failures are enough
		f.recent = f.recent[len(f.recent)-authFailLimit:]
	}
	if len(f.recent) >= authFailLimit || f.next > 0 {
		f.next = max(authBlockMin, min(2*f.next, authBlockMax))
		f.blockedUntil = now.Add(f.next)
	}
}

// succeeded forgets ip's failures.
func (b *authBackoff) succeeded(ip string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.clients, ip)
}

// sweep forgets, once a minute, the addresses that have been quiet for a
// window.
func (b *authBackoff) sweep(now time.Time) {
	if now.Sub(b.lastSweep) < time.Minute {
		return
	}
	b.lastSweep = now
	for ip, f := range b.clients {
		if f.quiet(now) {
			delete(b.clients, ip)
		}
	}
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	return ts[i:]
}

// clientIP is the address a request came from (the peer: a forwarding
// header is not trusted).
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// tooManyRequests answers 429 with Retry-After in whole seconds (at least 1).
func tooManyRequests(w http.ResponseWriter, wait time.Duration, format string, args ...any) *apiError {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return newError(http.StatusTooManyRequests, paved.CodeRateLimited, "", format+"; retry after %ds", append(args, secs)...)
}
