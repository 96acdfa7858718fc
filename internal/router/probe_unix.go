//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package router

import (
	"net"
	"syscall"
)

// prober checks whether an idle connection was closed by the instance,
// without blocking and without consuming data: one recv(MSG_PEEK|
// MSG_DONTWAIT) on the socket.
type prober struct {
	raw   syscall.RawConn
	fn    func(fd uintptr) bool // p.peek, bound once so probing does not allocate
	buf   [1]byte
	state probeState
}

type probeState uint8

const (
	probeAlive probeState = iota // nothing to read: the connection is idle and open
	probeDead                    // EOF, an error, or unsolicited bytes
)

func (p *prober) init(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw = raw
	p.fn = p.peek
}

// alive reports whether the connection looks usable. Without a raw socket
// it optimistically says yes; the exchange's own retry covers the rest.
func (p *prober) alive() bool {
	if p.raw == nil {
		return true
	}
	p.state = probeDead
	if err := p.raw.Read(p.fn); err != nil {
		return false
	}
	return p.state == probeAlive
}

func (p *prober) peek(fd uintptr) bool {
	for {
		n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN: // EWOULDBLOCK is the same errno on these systems
			p.state = probeAlive
		default: // n == 0: EOF; n > 0: bytes nobody asked for; or an error
			_ = n
			p.state = probeDead
		}
		return true // never wait for readability
	}
}
