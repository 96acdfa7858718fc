package runtime

import (
	"context"
	"errors"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/secrets"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// InstanceSpec describes one instance of an app release.
type InstanceSpec struct {
	ID      string // unique instance id, e.g. "demo-web-r3-7f2a"; also used as a file name
	App     string // "space/app"
	Release int
	Dir     string // working directory (the app's built droplet)
	// Droplet is the droplet's key (Dir is where the cell keeps it):
	// drivers that run instances elsewhere ship it by this key.
	Droplet string
	Command string // run as /bin/sh -c COMMAND
	// Env is the app's environment. The driver adds PORT, PAVED_INSTANCE,
	// PAVED_APP, PAVED_RELEASE, PAVED_CELL, HOME and TMPDIR (these always
	// win) and a PATH inherited from the cell (which Env may override).
	Env      map[string]string
	MemoryMB int // 0 = no limit
	// UID and GID run the instance when the driver isolates instances
	// (ProcessOptions.Isolation): its space's unprivileged user, never 0.
	UID, GID int
	// Volume is the app's persistent directory (PAVED_DATA_DIR), "" for
	// none: isolated instances see it writable, owned by UID.
	Volume string
	// Redact, when set, replaces secret values in the instance's output
	// before it reaches the log file or OnLog: an app that prints its
	// secret_env never writes the values down.
	Redact *secrets.Redactor
	// SecretKeys names the entries of Env that are secret_env: a driver
	// that writes the environment down (a Kubernetes pod spec) keeps them
	// in a Secret instead.
	SecretKeys []string
	// Health is the app's health check with defaults filled in; drivers
	// that probe instances themselves (Kubernetes readiness probes) use it.
	Health paved.HealthCheck
}

// State is where an instance is in its lifecycle.
type State string

// Instance states.
const (
	// StateStarting: a process is up but not yet known to be healthy.
	// Health checking belongs to another package, which reports success
	// through RunningMarker.
	StateStarting State = "starting"
	// StateRunning: the current process has been reported healthy.
	StateRunning State = "running"
	// StateCrashed: the process exited unexpectedly and the instance waits
	// for its restart backoff to pass.
	StateCrashed State = "crashed"
	// StateStopping: Stop was called; the process is being terminated.
	StateStopping State = "stopping"
	// StateStopped: nothing runs and nothing will be restarted. This is the
	// last state an instance reports; it is then forgotten by the runtime.
	StateStopped State = "stopped"
)

// InstanceStatus is a snapshot of one instance.
type InstanceStatus struct {
	ID, App   string
	Release   int
	PID, Port int // PID is 0 while no process runs; it is also the process group id
	// Host is the address the instance listens on ("" = 127.0.0.1, the
	// process driver's); a pod's IP on Kubernetes.
	Host        string
	State       State
	Crashes     int       // unexpected exits so far
	LastExit    string    // e.g. "exit status 1", "signal: killed"
	StartedAt   time.Time // of the current (or last) process
	ExitedAt    time.Time // of the last process, zero before the first exit
	NextRestart time.Time // set while State is StateCrashed
	// Adopt is set on a report of an instance the cell did not ask for
	// (Start did not return it): one that ran on while the cell was down,
	// or a replacement the cluster made by itself. The cell takes it over.
	Adopt bool
}

// LogLine is one line an instance wrote to stdout or stderr. Lines longer
// than the driver's limit (64 KiB) arrive split into several LogLines.
type LogLine struct {
	Time     time.Time
	Instance string
	App      string
	Stream   string // "stdout" or "stderr"
	Text     string // without the trailing newline
}

// Runtime runs app instances. All methods are safe for concurrent use.
type Runtime interface {
	// Start spawns the instance and supervises it (restarting it when it
	// crashes). It returns once the first process is spawned and its port
	// allocated.
	Start(spec InstanceSpec) (InstanceStatus, error)
	// Stop cancels any pending restart, sends SIGTERM to the instance's
	// processes, waits up to grace, then kills them. It returns when they
	// are gone, or with ctx's error if ctx ends first (the kill has then been
	// sent and cleanup finishes in the background).
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Status reports one instance; false if the runtime does not know it.
	Status(id string) (InstanceStatus, bool)
	// List reports every known instance, sorted by ID.
	List() []InstanceStatus
	// StopAll stops every instance in parallel; it is the cell's shutdown.
	StopAll(ctx context.Context, grace time.Duration) error
	// MemoryLimits tells whether InstanceSpec.MemoryMB is enforced and, if
	// not, why not (one sentence).
	MemoryLimits() (enforced bool, reason string)
	// Isolation says what keeps instances apart from the cell and from
	// each other on this runtime, and why anything is off.
	Isolation() paved.Isolation
	// Info describes the runtime for /v1/health: its driver and, for a
	// cluster, its version and nodes.
	Info(ctx context.Context) paved.RuntimeInfo
}

// Addr is host:port of an instance.
func (s InstanceStatus) Addr() string {
	host := s.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(s.Port))
}

// RunningMarker is implemented by runtimes whose instances move from
// StateStarting to StateRunning when told so by the health checker. It is a
// separate interface so that the Runtime interface stays minimal for other
// drivers; the cell discovers it with a type assertion.
type RunningMarker interface {
	// MarkRunning moves the instance to StateRunning if it is starting and
	// its current process has the given pid (0 = whatever process runs).
	// Passing the pid the health check probed keeps a late result for a
	// process that has since crashed from vouching for its replacement.
	MarkRunning(id string, pid int) bool
}

// ReadinessProber is implemented by runtimes that probe instances'
// readiness themselves (Kubernetes readiness probes): their instances
// report StateRunning only once ready, so the cell counts an instance alive
// only then, whatever its own health check.
type ReadinessProber interface {
	ProbesReadiness() bool
}

// Errors returned by the runtime; test with errors.Is.
var (
	ErrNotFound    = errors.New("runtime: no such instance")
	ErrExists      = errors.New("runtime: instance already exists")
	ErrInvalidSpec = errors.New("runtime: invalid instance spec")
	// errStopping means a spawn was skipped because Stop was called.
	errStopping = errors.New("runtime: instance is stopping")
)

// BackoffPolicy spaces out restarts of a crashing instance. The n-th
// consecutive crash waits Initial*Factor^(n-1), capped at Max. A process
// that stayed up for ResetAfter or longer starts the count again.
type BackoffPolicy struct {
	Initial    time.Duration // default 500ms
	Factor     float64       // default 2; values below 1 are treated as 1
	Max        time.Duration // default 30s
	ResetAfter time.Duration // default 30s
}

// withDefaults fills the zero fields, so callers may set only what they
// care about (tests shorten Initial, for instance).
func (b BackoffPolicy) withDefaults() BackoffPolicy {
	if b.Initial <= 0 {
		b.Initial = 500 * time.Millisecond
	}
	if b.Factor == 0 {
		b.Factor = 2
	}
	if b.Factor < 1 {
		b.Factor = 1
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = 30 * time.Second
	}
	return b
}

// delay is the wait before restarting after the streak-th consecutive
// crash (streak >= 1).
func (b BackoffPolicy) delay(streak int) time.Duration {
	if streak < 1 {
		streak = 1
	}
	d := float64(b.Initial) * math.Pow(b.Factor, float64(streak-1))
	if d >= float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return b.Max
	}
	return time.Duration(d)
}
