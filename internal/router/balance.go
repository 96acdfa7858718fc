package router

import (
	"sync/atomic"
	"time"
)

// backendState holds the counters of one instance. It is shared by every
// route and every table generation that list the instance's ID, so load and
// stats follow the instance across Update calls.
type backendState struct {
	outstanding     atomic.Int64
	requests        atomic.Int64
	responses5xx    atomic.Int64
	failedConnects  atomic.Int64
	transportErrors atomic.Int64

	// coolUntil is a monotonic timestamp (see monoNow) before which the
	// instance is avoided after a failed connect; 0 when healthy.
	coolUntil atomic.Int64

	// removedAt is when the instance left the table; zero while present.
	// Guarded by Router.mu: only Update reads or writes it.
	removedAt time.Time
}

func (s *backendState) snapshot() BackendStats {
	return BackendStats{
		Requests:        s.requests.Load(),
		Responses5xx:    s.responses5xx.Load(),
		FailedConnects:  s.failedConnects.Load(),
		TransportErrors: s.transportErrors.Load(),
		Outstanding:     s.outstanding.Load(),
	}
}

// coolDown makes the instance a last resort for d.
func (s *backendState) coolDown(d time.Duration) {
	if d > 0 {
		s.coolUntil.Store(monoNow() + int64(d))
	}
}

// answered records that the instance sent a response head with status.
func (s *backendState) answered(status int) {
	s.recovered()
	if status >= 500 {
		s.responses5xx.Add(1)
	}
}

// recovered clears a cooldown once the instance answered. The load-first
// avoids dirtying the shared cache line on every request.
func (s *backendState) recovered() {
	if s.coolUntil.Load() != 0 {
		s.coolUntil.Store(0)
	}
}

// epoch anchors monoNow so it uses the monotonic clock and is never zero.
var epoch = time.Now()

// monoNow returns monotonic nanoseconds since epoch (always > 0).
func monoNow() int64 { return int64(time.Since(epoch)) + 1 }

// pickPeer returns the peer cell of a global route to forward to, by the
// same rules as pick (fewest outstanding, cooling peers last); -1 when
// every peer was tried.
func (rt *route) pickPeer(tried *triedSet) int {
	return rt.pickIn(rt.local, len(rt.targets), tried)
}

// pick returns the index of the local instance with the fewest outstanding requests
// among those not yet tried, preferring instances that are not cooling down
// after a failed connect; -1 when every target was tried.
//
// The scan starts at a rotating index and keeps the first minimum it meets,
// so equally loaded instances are chosen in turn. It is a full scan: routes
// have a handful of instances, and exactness matters more than O(1) here.
func (rt *route) pick(tried *triedSet) int {
	if rt.weight > 0 {
		// (count × weight) mod 100 < weight holds for exactly weight of
		// every 100 consecutive counts, so the split is exact, not random.
		c := rt.split.Add(1)
		lo, hi := 0, rt.stable
		if (c*uint64(rt.weight))%100 < uint64(rt.weight) {
			lo, hi = rt.stable, rt.local
		}
		if i := rt.pickIn(lo, hi, tried); i >= 0 {
			return i
		}
	}
	return rt.pickIn(0, rt.local, tried)
}

// pickIn is pick over targets[lo:hi].
func (rt *route) pickIn(lo, hi int, tried *triedSet) int {
	n := hi - lo
	if n <= 0 {
		return -1
	}
	start := lo + int(rt.next.Add(1)%uint32(n))
	best, bestCool := -1, -1
	var bestLoad, coolLoad int64
	now := int64(0) // read lazily: most of the time nobody is cooling
	for k := range n {
		i := start + k
		if i >= hi {
			i -= n
		}
		if tried.has(i) {
			continue
		}
		st := rt.targets[i].state
		load := st.outstanding.Load()
		if until := st.coolUntil.Load(); until != 0 {
			if now == 0 {
				now = monoNow()
			}
			if now < until {
				if bestCool < 0 || load < coolLoad {
					bestCool, coolLoad = i, load
				}
				continue
			}
		}
		if best < 0 || load < bestLoad {
			best, bestLoad = i, load
		}
	}
	if best < 0 {
		return bestCool
	}
	return best
}

// triedSet records which targets of a route a request has used. The first
// 64 fit in a word on the stack; bigger routes spill into a map, which only
// happens on the (rare) retry path.
type triedSet struct {
	low  uint64
	high map[int]struct{}
}

func (s *triedSet) add(i int) {
	if i < 64 {
		s.low |= 1 << uint(i)
		return
	}
	if s.high == nil {
		s.high = make(map[int]struct{})
	}
	s.high[i] = struct{}{}
}

func (s *triedSet) has(i int) bool {
	if i < 64 {
		return s.low&(1<<uint(i)) != 0
	}
	_, ok := s.high[i]
	return ok
}
