// Package logbuf keeps the recent log lines of each app in memory and fans
// new lines out to followers (paved logs --follow). The durable copy of every
// line is the runtime's per-instance log file; this is the fast path.
package logbuf

import (
	"sync"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// DefaultLines is how many lines per app are kept.
const DefaultLines = 2000

// Buffer holds a ring of lines per app key. Safe for concurrent use.
type Buffer struct {
	size int
	mu   sync.Mutex
	apps map[string]*ring
}

type ring struct {
	lines []paved.LogLine
	next  int
	full  bool
	subs  map[chan paved.LogLine]struct{}
}

// New returns a buffer keeping size lines per app (DefaultLines if 0).
func New(size int) *Buffer {
	if size <= 0 {
		size = DefaultLines
	}
	return &Buffer{size: size, apps: map[string]*ring{}}
}

func (b *Buffer) ring(app string) *ring {
	r := b.apps[app]
	if r == nil {
		r = &ring{lines: make([]paved.LogLine, b.size), subs: map[chan paved.LogLine]struct{}{}}
		b.apps[app] = r
	}
	return r
}

// Add appends a line and hands it to followers. A follower that cannot keep
// up loses lines rather than slowing the app down.
func (b *Buffer) Add(app string, l paved.LogLine) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.ring(app)
	r.lines[r.next] = l
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
	for ch := range r.subs {
		select {
		case ch <- l:
		default:
		}
	}
}

// Tail returns up to n of the newest lines, oldest first.
func (b *Buffer) Tail(app string, n int) []paved.LogLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tailLocked(app, n)
}

func (b *Buffer) tailLocked(app string, n int) []paved.LogLine {
	r := b.apps[app]
	if r == nil {
		return nil
	}
	count := r.next
	if r.full {
		count = len(r.lines)
	}
	if n <= 0 || n > count {
		n = count
	}
	out := make([]paved.LogLine, 0, n)
	for i := count - n; i < count; i++ {
		idx := i
		if r.full {
			idx = (r.next + i) % len(r.lines)
		}
		out = append(out, r.lines[idx])
	}
	return out
}

// Follow returns the newest n lines and a channel of every later line;
// cancel stops it. Reading both under one lock means no line falls between.
func (b *Buffer) Follow(app string, n int) (past []paved.LogLine, lines <-chan paved.LogLine, cancel func()) {
	ch := make(chan paved.LogLine, 256)
	b.mu.Lock()
	past = b.tailLocked(app, n)
	b.ring(app).subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return past, ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.ring(app).subs, ch)
			b.mu.Unlock()
		})
	}
}

// Drop forgets an app's lines (the app was deleted).
func (b *Buffer) Drop(app string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.apps, app)
}
