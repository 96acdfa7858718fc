//go:build !linux

package router

import "net"

// lane is the Linux event loop (lane_linux.go); elsewhere the fast server
// serves every connection with its goroutines.
type lane struct{}

func (*lane) wake() {}

func (s *Server) serveLane(net.Listener) (bool, error) { return false, nil }
