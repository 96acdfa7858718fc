package runtime

import "sync"

// notifier delivers state changes to OnState in the order they happened,
// from a goroutine that holds none of the driver's locks. Callers push while
// holding the instance lock, which fixes the order; delivery is
// asynchronous, so a callback may call back into the driver (Status, even
// Stop) without deadlocking. The goroutine exits when the queue is empty, so
// an idle driver costs nothing.
type notifier struct {
	fn func(InstanceStatus)

	mu      sync.Mutex
	queue   []InstanceStatus
	running bool
}

func (n *notifier) push(st InstanceStatus) {
	if n.fn == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queue = append(n.queue, st)
	if !n.running {
		n.running = true
		go n.drain()
	}
}

func (n *notifier) drain() {
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running = false
			n.queue = nil // let a burst's backing array go
			n.mu.Unlock()
			return
		}
		st := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()
		n.fn(st)
	}
}
