package pipeline

import "sync"

// coalescer lets concurrent requests for the same work share runs of it.
// A request is satisfied by any run that starts after it was made: while a
// run is going, every request that comes in joins the one run that starts
// next, however many there are. A source checked on every webhook thus
// does at most two fetches at a time whatever the rate of webhooks, and
// each of them still sees every commit made before its webhook.
type coalescer struct {
	mu      sync.Mutex
	running bool
	next    *flight // the run that starts when the current one ends
}

// flight is one run shared by the requests that joined it.
type flight struct {
	start chan struct{} // closed when the run may start
	done  chan struct{} // closed when it ended; err is then set
	err   error
	n     int // requests sharing it
}

// do runs fn, or waits for a run of it that starts after this call, and
// returns that run's error. The first request to join a waiting run is
// the one that runs it.
func (c *coalescer) do(fn func() error) error {
	c.mu.Lock()
	if !c.running {
		c.running = true
		c.mu.Unlock()
		return c.run(fn, nil)
	}
	if f := c.next; f != nil {
		f.n++
		c.mu.Unlock()
		<-f.done
		return f.err
	}
	f := &flight{start: make(chan struct{}), done: make(chan struct{}), n: 1}
	c.next = f
	c.mu.Unlock()
	<-f.start
	return c.run(fn, f)
}

// run runs fn for f (nil: a request alone) and hands over to the next run.
func (c *coalescer) run(fn func() error, f *flight) error {
	err := fn()
	if f != nil {
		f.err = err
		close(f.done)
	}
	c.mu.Lock()
	if n := c.next; n != nil {
		c.next = nil // who asks from now on waits for the run after n
		close(n.start)
	} else {
		c.running = false
	}
	c.mu.Unlock()
	return err
}
