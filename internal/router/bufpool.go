package router

import "sync"

// copyBufSize is the size of the buffers used to copy response bodies, the
// same as io.Copy's default.
const copyBufSize = 32 << 10

// bufferPool implements httputil.BufferPool without allocating per request.
// It pools array pointers rather than slices: a pointer fits in an interface
// without boxing, and a full-capacity slice converts back to one for free.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[copyBufSize]byte); ok {
		return b[:]
	}
	return new([copyBufSize]byte)[:]
}

func (p *bufferPool) Put(b []byte) {
	if cap(b) >= copyBufSize {
		p.pool.Put((*[copyBufSize]byte)(b[:copyBufSize]))
	}
}
