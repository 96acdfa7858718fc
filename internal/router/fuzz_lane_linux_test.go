//go:build linux

package router

// The lane's request-head finder, for FuzzRequestHead.
func init() { laneHeadEnd = headEnd }
