package router

import (
	"encoding/json"
	"net/http"
)

// ProbeHost is the Host under which a router answers about itself instead
// of routing. It holds an underscore, which no DNS label of an app route may
// contain, so it cannot shadow an app.
const ProbeHost = "_paved"

// ProbePath is where peers ask which global hosts this router can serve
// with local instances (see GlobalStatus).
const ProbePath = "/global"

// GlobalStatus is the router's answer on ProbePath: its region and, per
// global host, how many healthy local instances serve it. A peer forwards a
// global host's requests here only while the count is positive.
type GlobalStatus struct {
	Region string         `json:"region"`
	Hosts  map[string]int `json:"hosts"`
}

// Global reports the router's global hosts as GlobalStatus does.
func (r *Router) Global() GlobalStatus {
	return globalStatus(r.opts.Region, r.table.Load())
}

func globalStatus(region string, t *table) GlobalStatus {
	st := GlobalStatus{Region: region, Hosts: map[string]int{}}
	for host, routes := range t.hosts {
		for _, rt := range routes {
			if rt.global {
				st.Hosts[host] = max(st.Hosts[host], rt.local)
			}
		}
	}
	return st
}

// serveProbe answers requests addressed to ProbeHost.
func (r *Router) serveProbe(w http.ResponseWriter, method, path string, t *table) {
	if path != ProbePath || (method != http.MethodGet && method != http.MethodHead) {
		plainError(w, http.StatusNotFound, "paved: the router answers GET "+ProbePath+" on host "+ProbeHost)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(globalStatus(r.opts.Region, t)) // fails only when the client is gone
}
