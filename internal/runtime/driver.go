package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ProcessOptions configures a ProcessDriver.
type ProcessOptions struct {
	// CellID goes into every instance's environment as PAVED_CELL; it is
	// how SweepOrphans recognises this cell's processes after a crash, and
	// it names the cell's cgroup. Required.
	CellID string
	// Dir holds the driver's state: instances/<ID>/<ID>.log and the
	// per-instance scratch directory instances/<ID>/tmp. Required.
	Dir string
	// OnLog is called for every stdout/stderr line, on the goroutine that
	// reads the instance's pipe: while it blocks, the instance's writes to
	// that stream block too. Calls for different streams and instances run
	// concurrently.
	OnLog func(LogLine)
	// OnState is called on every state change, in order, from a separate
	// goroutine holding no driver lock (so it may call the driver).
	OnState func(InstanceStatus)
	// Backoff spaces out restarts of crashing instances; zero fields take
	// the documented defaults.
	Backoff BackoffPolicy
	// Logger receives the driver's own diagnostics; nil discards them.
	Logger *slog.Logger
	// Subreaper makes the cell a child subreaper (PR_SET_CHILD_SUBREAPER):
	// processes orphaned inside an instance are then re-parented to the
	// cell, which reaps them, instead of to PID 1. Turn it on when the
	// cell is PID 1 of a container or runs under an init that does not reap
	// orphans; otherwise killed grandchildren linger as zombies. It is
	// process-wide: orphans of the cell's other subprocesses (builds, say)
	// will also be re-parented to the cell, and nothing here reaps those.
	Subreaper bool
	// Isolation, when set, runs every instance in a sandbox (package
	// sandbox) as its InstanceSpec.UID/GID, in its own PID and mount
	// namespaces, where only its droplet (read-only), its scratch dir and
	// its volume are visible of the cell's files.
	Isolation *Isolation
	// PidsLimit caps the tasks of each instance where the host has a pids
	// controller: 0 means DefaultPidsLimit, -1 no limit.
	PidsLimit int
}

// Isolation configures sandboxed instances.
type Isolation struct {
	// Hide lists the cell's paths that sandboxes must not see (the data
	// dir, token and key files): covered by empty file systems.
	Hide []string
}

// ProcessDriver is the default Runtime: every instance is a process tree on
// this machine. Create it with NewProcessDriver.
type ProcessDriver struct {
	opts     ProcessOptions
	backoff  BackoffPolicy
	log      *slog.Logger
	events   *notifier
	cgroups  *cgroupManager // nil when memory limits are not enforced
	cgReason string

	mu        sync.Mutex
	instances map[string]*instance
	ports     map[int]bool // ports held by live instances, kept across restarts
}

var (
	_ Runtime       = (*ProcessDriver)(nil)
	_ RunningMarker = (*ProcessDriver)(nil)
)

// NewProcessDriver prepares the state directory and probes cgroup v2
// support. It does not sweep orphans: the cell calls SweepOrphans first.
func NewProcessDriver(opts ProcessOptions) (*ProcessDriver, error) {
	if !validName(opts.CellID) {
		return nil, fmt.Errorf("runtime: invalid cell id %q (use letters, digits, '.', '_' and '-')", opts.CellID)
	}
	if opts.Dir == "" {
		return nil, errors.New("runtime: ProcessOptions.Dir is required")
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "instances"), 0o755); err != nil {
		return nil, fmt.Errorf("runtime: state dir: %w", err)
	}
	if opts.Subreaper {
		if err := setChildSubreaper(); err != nil {
			return nil, fmt.Errorf("runtime: become child subreaper: %w", err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &ProcessDriver{
		opts:      opts,
		backoff:   opts.Backoff.withDefaults(),
		log:       log.With("component", "runtime", "cell", opts.CellID),
		events:    &notifier{fn: opts.OnState},
		instances: map[string]*instance{},
		ports:     map[int]bool{},
	}
	d.cgroups, d.cgReason = probeCgroups(cgroupRoot, opts.CellID)
	if d.cgroups == nil {
		d.log.Info("memory limits not enforced", "reason", d.cgReason)
	}
	switch {
	case d.opts.PidsLimit == 0:
		d.opts.PidsLimit = DefaultPidsLimit
	case d.opts.PidsLimit < 0:
		d.opts.PidsLimit = 0
	}
	return d, nil
}

// MemoryLimits reports whether InstanceSpec.MemoryMB is enforced (cgroup v1
// or v2) and, if not, why.
func (d *ProcessDriver) MemoryLimits() (enforced bool, reason string) {
	return d.cgroups != nil, d.cgReason
}

// JobLimits gives a one-off job of the cell (a build, a pipeline task) its
// own cgroups, with the driver's pids limit and memoryMB (0 = none), for
// sandbox.Jail.Limits: place moves the job's sandbox into them before the
// job runs, release removes them after it. Where the host has no cgroups
// the cell can use, place is nil and there is nothing to release.
func (d *ProcessDriver) JobLimits(name string, memoryMB int) (place func(pid int) error, release func(), err error) {
	if d.cgroups == nil {
		return nil, func() {}, nil
	}
	if !validName(name) {
		return nil, nil, fmt.Errorf("%w: job name %q", ErrInvalidSpec, name)
	}
	cg, err := d.cgroups.create("job-"+name, memoryMB, d.opts.PidsLimit)
	if err != nil {
		return nil, nil, fmt.Errorf("runtime: cgroups of job %s: %w", name, err)
	}
	return cg.place, cg.remove, nil
}

// Isolation reports what this driver isolates.
func (d *ProcessDriver) Isolation() paved.Isolation {
	var iso paved.Isolation
	var why []string
	if d.opts.Isolation != nil {
		iso.Enabled, iso.UID, iso.PIDNamespace, iso.MountNamespace = true, true, true, true
	} // why not is the cell's to say: it decided

	if d.cgroups != nil {
		iso.Memory = d.cgroups.version()
		iso.PidsLimit = d.cgroups.pids && d.opts.PidsLimit > 0
		if !d.cgroups.pids {
			why = append(why, "the host has no pids controller")
		}
	} else {
		why = append(why, "memory_mb is not enforced: "+d.cgReason)
	}
	iso.Reason = strings.Join(why, "; ")
	return iso
}

// Info implements Runtime.
func (d *ProcessDriver) Info(context.Context) paved.RuntimeInfo {
	return paved.RuntimeInfo{Driver: "process"}
}

// Start spawns the instance's first process and supervises it from then on.
func (d *ProcessDriver) Start(spec InstanceSpec) (InstanceStatus, error) {
	if err := validateSpec(spec); err != nil {
		return InstanceStatus{}, err
	}
	in, err := d.register(spec)
	if err != nil {
		return InstanceStatus{}, err
	}
	p, err := in.begin()
	if err != nil {
		in.finish()
		return InstanceStatus{}, fmt.Errorf("runtime: start %s: %w", spec.ID, err)
	}
	go in.supervise(p)
	return in.status(), nil
}

// register reserves the id and a port before anything is spawned, so two
// concurrent Starts of the same id cannot both succeed.
func (d *ProcessDriver) register(spec InstanceSpec) (*instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.instances[spec.ID]; ok {
		return nil, fmt.Errorf("%w: %s", ErrExists, spec.ID)
	}
	port, err := d.allocatePortLocked()
	if err != nil {
		return nil, fmt.Errorf("runtime: allocate port: %w", err)
	}
	in := newInstance(d, spec, port)
	d.instances[spec.ID] = in
	return in, nil
}

// allocatePortLocked asks the kernel for a free port on 127.0.0.1. It
// skips ports held by our own instances: an instance waiting out its
// backoff is not listening, so the kernel would happily hand its port out.
func (d *ProcessDriver) allocatePortLocked() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !d.ports[port] {
			d.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port found")
}

// forget drops a finished instance and frees its port.
func (d *ProcessDriver) forget(in *instance) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.instances[in.spec.ID] == in {
		delete(d.instances, in.spec.ID)
	}
	delete(d.ports, in.port)
}

func (d *ProcessDriver) lookup(id string) *instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.instances[id]
}

// Stop stops an instance: no more restarts, SIGTERM to its process group,
// SIGKILL after grace, and cleanup of its scratch dir and cgroup. It returns
// when all that is done, or with ctx's error (after sending SIGKILL) if ctx
// ends first.
func (d *ProcessDriver) Stop(ctx context.Context, id string, grace time.Duration) error {
	in := d.lookup(id)
	if in == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	in.terminate()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-in.done:
		return nil
	case <-timer.C:
		in.kill()
	case <-ctx.Done():
		in.kill()
	}
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runtime: stop %s: %w", id, ctx.Err())
	}
}

// StopAll stops every instance in parallel and then removes the cell's
// cgroup. Errors are joined.
func (d *ProcessDriver) StopAll(ctx context.Context, grace time.Duration) error {
	d.mu.Lock()
	ids := make([]string, 0, len(d.instances))
	for id := range d.instances {
		ids = append(ids, id)
	}
	d.mu.Unlock()

	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			if err := d.Stop(ctx, id, grace); err != nil && !errors.Is(err, ErrNotFound) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	if d.cgroups != nil {
		d.cgroups.removeCell()
	}
	return errors.Join(errs...)
}

// Status reports one instance.
func (d *ProcessDriver) Status(id string) (InstanceStatus, bool) {
	in := d.lookup(id)
	if in == nil {
		return InstanceStatus{}, false
	}
	return in.status(), true
}

// List reports every instance, sorted by ID.
func (d *ProcessDriver) List() []InstanceStatus {
	d.mu.Lock()
	all := make([]*instance, 0, len(d.instances))
	for _, in := range d.instances {
		all = append(all, in)
	}
	d.mu.Unlock()
	out := make([]InstanceStatus, 0, len(all))
	for _, in := range all {
		out = append(out, in.status())
	}
	slices.SortFunc(out, func(a, b InstanceStatus) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// MarkRunning implements RunningMarker.
func (d *ProcessDriver) MarkRunning(id string, pid int) bool {
	in := d.lookup(id)
	return in != nil && in.markRunning(pid)
}

// validateSpec rejects specs that would break the driver's assumptions: the
// ID becomes a directory and file name, and env entries must survive the
// trip through execve.
func validateSpec(s InstanceSpec) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	switch {
	case !validName(s.ID):
		return bad("id %q must be non-empty and use only letters, digits, '.', '_' and '-'", s.ID)
	case strings.TrimSpace(s.Command) == "":
		return bad("command is empty")
	case s.Dir == "":
		return bad("dir is empty")
	case s.MemoryMB < 0:
		return bad("memory_mb %d is negative", s.MemoryMB)
	case s.UID < 0 || s.GID < 0:
		return bad("uid %d / gid %d is negative", s.UID, s.GID)
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return bad("env entry %q is not valid", k)
		}
	}
	return nil
}

// validName accepts names safe as a single path element.
func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 200 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}
