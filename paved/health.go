package paved

import (
	"context"
	"net/http"
	"time"
)

// CellHealth is what GET /v1/health answers, without a token.
type CellHealth struct {
	Status        string    `json:"status"` // "ok"
	Region        string    `json:"region"`
	Cloud         string    `json:"cloud"`
	Version       string    `json:"version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Counts        struct {
		Spaces           int `json:"spaces"`
		Apps             int `json:"apps"`
		Instances        int `json:"instances"`
		HealthyInstances int `json:"healthy_instances"`
	} `json:"counts"`
	MemoryLimitsEnforced bool   `json:"memory_limits_enforced"`
	MemoryLimitsReason   string `json:"memory_limits_reason,omitempty"`
	RouterAddr           string `json:"router_addr"`
	// TLS is true when the cell's API and router listeners speak HTTPS
	// only (paved server --tls-cert/--tls-key); older cells omit it.
	TLS bool `json:"tls,omitempty"`
	// Isolation says how the cell keeps apps, builds and pipeline tasks
	// apart from itself and from each other (paved server --isolation).
	Isolation Isolation `json:"isolation"`
	// Runtime says where the cell runs instances (paved server --runtime).
	Runtime RuntimeInfo `json:"runtime"`
}

// RuntimeInfo describes a cell's runtime driver.
type RuntimeInfo struct {
	// Driver is "process" (instances are processes on the cell's machine)
	// or "kubernetes" (pods of a cluster).
	Driver string `json:"driver"`
	// ClusterVersion is the Kubernetes API server's version.
	ClusterVersion string `json:"cluster_version,omitempty"`
	// Nodes and ReadyNodes count the cluster's nodes.
	Nodes      int `json:"nodes,omitempty"`
	ReadyNodes int `json:"ready_nodes,omitempty"`
	// Error says why the cluster could not be read, when it could not.
	Error string `json:"error,omitempty"`
}

// Isolation is what a cell's runtime isolates, as it found the host.
type Isolation struct {
	// Enabled: instances, builds and tasks run sandboxed (paved server
	// --isolation auto found the host able, or required).
	Enabled bool `json:"enabled"`
	// UID: each space's processes run as an unprivileged uid of its own,
	// with no capabilities and no_new_privs.
	UID bool `json:"uid"`
	// PIDNamespace: each sandbox sees only its own processes in /proc.
	PIDNamespace bool `json:"pid_namespace"`
	// MountNamespace: each sandbox has a private /proc and /tmp and sees
	// none of the cell's files, other apps' droplets or keys.
	MountNamespace bool `json:"mount_namespace"`
	// Memory names the controller enforcing memory_mb ("cgroup v1",
	// "cgroup v2"), "" when memory_mb is not enforced.
	Memory string `json:"memory"`
	// PidsLimit: the number of processes per instance is capped.
	PidsLimit bool `json:"pids_limit"`
	// Reason says why anything above is off, in one sentence.
	Reason string `json:"reason,omitempty"`
}

// RouterURL is the base URL of the cell's router: http:// or, on a TLS
// cell, https:// and its address.
func (h CellHealth) RouterURL() string { return RouterURL(h.RouterAddr, h.TLS) }

// RouterURL is the base URL of a router at addr (host:port).
func RouterURL(addr string, tls bool) string {
	if addr == "" {
		return ""
	}
	if tls {
		return "https://" + addr
	}
	return "http://" + addr
}

// Health reads the cell's health; it needs no token.
func (c *Client) Health(ctx context.Context) (*CellHealth, error) {
	var out CellHealth
	if err := c.do(ctx, http.MethodGet, "/v1/health", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
