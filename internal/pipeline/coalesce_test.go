package pipeline

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every request is answered by a run that started after it was made, and
// requests that pile up during a run share one run.
func TestCoalescer(t *testing.T) {
	var c coalescer
	var runs atomic.Int64
	var started sync.Map // run number → start time
	release := make(chan struct{})
	fn := func() error {
		n := runs.Add(1)
		started.Store(n, time.Now())
		if n == 1 {
			<-release // the first run lasts until the others have asked
		}
		return nil
	}
	first := make(chan error)
	go func() { first <- c.do(fn) }()
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const waiters = 20
	asked := make([]time.Time, waiters)
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Add(1)
		asked[i] = time.Now()
		go func() { defer wg.Done(); c.do(fn) }()
	}
	for { // until every request has joined the next run
		c.mu.Lock()
		n := 0
		if c.next != nil {
			n = c.next.n
		}
		c.mu.Unlock()
		if n == waiters {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs for 1 + %d requests made during the first, want 2", n, waiters)
	}
	second, _ := started.Load(int64(2))
	for i, a := range asked {
		if second.(time.Time).Before(a) {
			t.Fatalf("request %d (asked %v) was answered by a run that started before it (%v)", i, a, second)
		}
	}
	// Idle again: a request runs at once, and errors reach their requests.
	boom := errors.New("boom")
	if err := c.do(func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
}

// Under a steady stream of requests no request waits for more than the
// run in progress and its own.
func TestCoalescerUnderLoad(t *testing.T) {
	var c coalescer
	var inRun atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%20) * time.Millisecond)
			c.do(func() error {
				if inRun.Add(1) != 1 {
					t.Error("two runs at once")
				}
				time.Sleep(2 * time.Millisecond)
				inRun.Add(-1)
				return nil
			})
		}()
	}
	wg.Wait()
}
