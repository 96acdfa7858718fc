package runtime

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/sandbox"
)

// Environment variables the driver sets for every instance.
const (
	EnvPort = "PORT"
	// EnvHost is the address to bind: the cell's loopback for a process
	// instance (it shares the cell's network), all of the pod's addresses
	// on Kubernetes.
	EnvHost     = "PAVED_HOST"
	EnvInstance = "PAVED_INSTANCE"
	EnvApp      = "PAVED_APP"
	EnvRelease  = "PAVED_RELEASE"
)

// instance is one supervised instance: a sequence of processes (one per
// restart) sharing an id, a port, a log file, a scratch dir and a cgroup.
//
// Lifecycle: Start → begin (first spawn) → supervise loop {await exit →
// crash bookkeeping → backoff → spawn} → finish. Stop sets stopping, which
// ends the loop at its next step, and signals the current process group.
type instance struct {
	d       *ProcessDriver
	spec    InstanceSpec
	port    int
	dir     string        // <Dir>/instances/<ID>
	scratch string        // <dir>/tmp, HOME and TMPDIR of the instance
	stopReq chan struct{} // closed by the first Stop; cancels a backoff wait
	done    chan struct{} // closed when everything is cleaned up

	mu        sync.Mutex
	st        InstanceStatus
	proc      *proc // current process tree, nil while none runs
	log       *logFile
	cg        *instanceCgroup
	stopping  bool // Stop was called (or Start failed): never spawn again
	killed    bool // Stop's grace ran out: SIGKILL whatever is left
	streak    int  // consecutive short-lived runs, drives the backoff
	announced bool // OnState has heard of this instance
}

func newInstance(d *ProcessDriver, spec InstanceSpec, port int) *instance {
	spec.Env = maps.Clone(spec.Env) // the caller may reuse its map
	dir := filepath.Join(d.opts.Dir, "instances", spec.ID)
	return &instance{
		d:       d,
		spec:    spec,
		port:    port,
		dir:     dir,
		scratch: filepath.Join(dir, "tmp"),
		stopReq: make(chan struct{}),
		done:    make(chan struct{}),
		st: InstanceStatus{
			ID:      spec.ID,
			App:     spec.App,
			Release: spec.Release,
			Port:    port,
			State:   StateStarting,
		},
	}
}

// begin prepares the instance's files and cgroup and spawns its first
// process.
func (in *instance) begin() (*proc, error) {
	if err := in.prepare(); err != nil {
		return nil, err
	}
	return in.spawn()
}

func (in *instance) prepare() error {
	// Checked here, since a sandbox only finds out after the fork.
	if fi, err := os.Stat(in.spec.Dir); err != nil {
		return fmt.Errorf("%w: dir %s is not a directory (%w)", ErrInvalidSpec, in.spec.Dir, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("%w: dir %s is not a directory", ErrInvalidSpec, in.spec.Dir)
	}
	if err := os.MkdirAll(in.dir, 0o755); err != nil {
		return err
	}
	// A fresh scratch dir: leftovers of an earlier instance with this id
	// must not leak into this one.
	if err := os.RemoveAll(in.scratch); err != nil {
		return err
	}
	if err := os.Mkdir(in.scratch, 0o700); err != nil {
		return err
	}
	if in.d.opts.Isolation != nil {
		if in.spec.UID == 0 || in.spec.GID == 0 {
			return fmt.Errorf("%w: an isolated instance needs its space's uid and gid (got %d/%d)", ErrInvalidSpec, in.spec.UID, in.spec.GID)
		}
		// HOME and TMPDIR belong to the instance's user, and so does its
		// volume (created by the deployer as the cell's user).
		if err := os.Chown(in.scratch, in.spec.UID, in.spec.GID); err != nil {
			return err
		}
		if in.spec.Volume != "" {
			if err := sandbox.ChownTree(in.spec.Volume, in.spec.UID, in.spec.GID); err != nil {
				return fmt.Errorf("volume: %w", err)
			}
		}
	}
	lf, err := openLogFile(filepath.Join(in.dir, in.spec.ID+".log"))
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.log = lf
	in.mu.Unlock()

	if in.d.cgroups == nil {
		if in.spec.MemoryMB > 0 {
			in.d.log.Warn("memory limit not enforced", "instance", in.spec.ID,
				"memory_mb", in.spec.MemoryMB, "reason", in.d.cgReason)
		}
		return nil
	}
	cg, err := in.d.cgroups.create(in.spec.ID, in.spec.MemoryMB, in.d.opts.PidsLimit)
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	in.mu.Lock()
	in.cg = cg
	in.mu.Unlock()
	return nil
}

// spawn starts a new process for the instance unless it is stopping.
func (in *instance) spawn() (*proc, error) {
	in.mu.Lock()
	if in.stopping {
		in.mu.Unlock()
		return nil, errStopping
	}
	cg, lf := in.cg, in.log
	in.mu.Unlock()

	ls := launchSpec{
		dir:      in.spec.Dir,
		env:      in.environ(),
		command:  in.spec.Command,
		cgroupFD: -1,
		onLine:   func(stream, text string) { in.emitLine(lf, stream, text) },
	}
	if iso := in.d.opts.Isolation; iso != nil {
		keep := []sandbox.Mount{{Path: in.spec.Dir}, {Path: in.scratch, Writable: true}}
		if in.spec.Volume != "" {
			keep = append(keep, sandbox.Mount{Path: in.spec.Volume, Writable: true})
		}
		ls.sandbox = &sandbox.Config{UID: in.spec.UID, GID: in.spec.GID, Hide: iso.Hide, Keep: keep}
	}
	oomBase := 0
	if cg != nil {
		fd, err := cg.open()
		if err != nil {
			return nil, fmt.Errorf("open cgroup: %w", err)
		}
		if fd >= 0 {
			defer syscall.Close(fd)
		}
		ls.cgroupFD, ls.place = fd, cg.place
		oomBase = cg.oomKills()
	}
	p, err := launch(ls)
	if err != nil {
		return nil, err
	}
	p.oomBase = oomBase

	in.mu.Lock()
	defer in.mu.Unlock()
	in.proc = p
	in.st.PID, in.st.StartedAt = p.pid, p.started
	if in.stopping {
		// Stop came in while we were forking: it could not signal this
		// process, so do it now, as hard as Stop has got so far.
		sig := syscall.SIGTERM
		if in.killed {
			sig = syscall.SIGKILL
		}
		signalGroup(p.pid, sig)
		return p, nil
	}
	in.st.State, in.st.NextRestart = StateStarting, time.Time{}
	in.emitLocked()
	return p, nil
}

// environ builds the process environment: the cell's PATH (overridable),
// the app's env, then the driver's variables, which always win because
// SweepOrphans and the router depend on them being right.
func (in *instance) environ() []string {
	env := map[string]string{"PATH": cellPath()}
	maps.Copy(env, in.spec.Env)
	maps.Copy(env, map[string]string{
		EnvPort:     strconv.Itoa(in.port),
		EnvHost:     "127.0.0.1",
		EnvInstance: in.spec.ID,
		EnvApp:      in.spec.App,
		EnvRelease:  strconv.Itoa(in.spec.Release),
		EnvCell:     in.d.opts.CellID,
		"HOME":      in.scratch,
		"TMPDIR":    in.scratch,
	})
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func cellPath() string {
	if p := os.Getenv("PATH"); p != "" {
		return p
	}
	return "/usr/local/bin:/usr/bin:/bin"
}

// emitLine records one output line in the log file and passes it on.
func (in *instance) emitLine(lf *logFile, stream, text string) {
	line := LogLine{Time: time.Now(), Instance: in.spec.ID, App: in.spec.App, Stream: stream, Text: in.spec.Redact.String(text)}
	if lf != nil {
		lf.write(line)
	}
	if fn := in.d.opts.OnLog; fn != nil {
		fn(line)
	}
}

// supervise runs until the instance is stopped, restarting crashed
// processes.
func (in *instance) supervise(p *proc) {
	defer in.finish()
	for p != nil {
		in.await(p)
		delay, restart := in.exited(p)
		if !restart {
			return
		}
		p = in.restartAfter(delay)
	}
}

// await returns once p's whole process tree is gone and its output read.
func (in *instance) await(p *proc) {
	<-p.exited
	if !in.isStopping() {
		// An instance is its whole tree. With the leader gone, whatever it
		// left behind is killed now, so it cannot keep the port or pile up
		// across restarts. (When stopping, the rest of the group gets its
		// grace period; Stop escalates.)
		in.killTree(p)
	}
	<-p.groupReaped
	in.waitGroupGone(p)
	in.killStrays()
	p.drainLogs(2 * time.Second)
}

// killTree SIGKILLs p's group and, where there is one, the cgroup.
func (in *instance) killTree(p *proc) {
	signalGroup(p.pid, syscall.SIGKILL)
	in.mu.Lock()
	cg := in.cg
	in.mu.Unlock()
	if cg != nil {
		cg.kill()
	}
}

// waitGroupGone waits until no live process is left in p's group. Members
// that are not our children (their parent is alive, or the cell is not a
// subreaper) are invisible to wait4, hence the polling.
func (in *instance) waitGroupGone(p *proc) {
	var giveUp time.Time
	for delay := 5 * time.Millisecond; groupLive(p.pid); delay = min(2*delay, 200*time.Millisecond) {
		if in.mustKill() {
			signalGroup(p.pid, syscall.SIGKILL)
			if giveUp.IsZero() {
				giveUp = time.Now().Add(30 * time.Second)
			} else if time.Now().After(giveUp) {
				// Only a process stuck in the kernel survives SIGKILL this
				// long; waiting longer would wedge Stop for good.
				in.d.log.Error("processes survive SIGKILL; giving up on them",
					"instance", in.spec.ID, "pgid", p.pid)
				return
			}
		}
		time.Sleep(delay)
	}
}

// mustKill is true unless a graceful stop is still within its grace.
func (in *instance) mustKill() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return !in.stopping || in.killed
}

// killStrays kills processes of this instance that left its process group
// (daemons that called setsid, say). They still carry the instance's
// environment, which is how they are found.
func (in *instance) killStrays() {
	pids, err := killMatching([]string{
		EnvCell + "=" + in.d.opts.CellID,
		EnvInstance + "=" + in.spec.ID,
	})
	if err != nil {
		in.d.log.Warn("cannot look for stray processes", "instance", in.spec.ID, "err", err)
	}
	if len(pids) == 0 {
		return
	}
	in.d.log.Info("killed processes that left the instance's process group",
		"instance", in.spec.ID, "pids", pids)
	waitGone(pids, 2*time.Second)
	for _, pid := range pids {
		reapIfChild(pid)
	}
}

// exited records the end of p. Unless the instance is stopping, that is a
// crash, and it returns how long to wait before restarting.
func (in *instance) exited(p *proc) (time.Duration, bool) {
	status := p.status
	in.mu.Lock()
	cg := in.cg
	in.mu.Unlock()
	if cg != nil && cg.oomKills() > p.oomBase {
		status = fmt.Sprintf("out of memory (limit %d MiB): %s", in.spec.MemoryMB, status)
	}

	in.mu.Lock()
	defer in.mu.Unlock()
	in.proc = nil
	in.st.PID = 0
	in.st.LastExit, in.st.ExitedAt = status, p.exitedAt
	if in.stopping {
		return 0, false
	}
	// A process that stayed up long enough proves the instance can run;
	// its crash starts a new streak instead of extending the old one.
	if p.exitedAt.Sub(p.started) >= in.d.backoff.ResetAfter {
		in.streak = 0
	}
	return in.crashedLocked(), true
}

// crashedLocked does the bookkeeping shared by crashes and failed spawns.
func (in *instance) crashedLocked() time.Duration {
	in.streak++
	delay := in.d.backoff.delay(in.streak)
	in.st.Crashes++
	in.st.State = StateCrashed
	in.st.NextRestart = time.Now().Add(delay)
	in.emitLocked()
	in.d.log.Warn("instance crashed", "instance", in.spec.ID, "exit", in.st.LastExit,
		"crashes", in.st.Crashes, "restart_in", delay)
	return delay
}

// restartAfter waits out the backoff and spawns the next process. A spawn
// that fails counts as a crash and backs off further. It returns nil when
// the instance is being stopped.
func (in *instance) restartAfter(delay time.Duration) *proc {
	for {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-in.stopReq:
			t.Stop()
			return nil
		}
		p, err := in.spawn()
		if err == nil {
			return p
		}
		if errors.Is(err, errStopping) {
			return nil
		}
		in.mu.Lock()
		if in.stopping {
			in.mu.Unlock()
			return nil
		}
		in.st.LastExit, in.st.ExitedAt = "start failed: "+err.Error(), time.Now()
		delay = in.crashedLocked()
		in.mu.Unlock()
	}
}

// terminate is Stop's first step: no more restarts, SIGTERM to the group.
func (in *instance) terminate() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.stopping {
		in.stopping = true
		close(in.stopReq)
		in.st.State, in.st.NextRestart = StateStopping, time.Time{}
		in.emitLocked()
	}
	// Signalling under the lock keeps us from signalling a group whose
	// bookkeeping exited() has already torn down.
	if in.proc != nil {
		signalGroup(in.proc.pid, syscall.SIGTERM)
	}
}

// kill is Stop's escalation once grace has run out.
func (in *instance) kill() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.killed = true
	if in.proc != nil {
		signalGroup(in.proc.pid, syscall.SIGKILL)
	}
	if in.cg != nil {
		in.cg.kill()
	}
}

// finish releases everything the instance holds and reports it stopped.
// It runs once, at the end of supervise or when Start fails.
func (in *instance) finish() {
	in.mu.Lock()
	in.stopping = true
	lf, cg := in.log, in.cg
	in.mu.Unlock()

	if lf != nil {
		lf.close()
	}
	if err := os.RemoveAll(in.scratch); err != nil {
		in.d.log.Warn("cannot remove scratch dir", "instance", in.spec.ID, "err", err)
	}
	if cg != nil {
		cg.remove()
	}
	in.d.forget(in)

	in.mu.Lock()
	in.st.State, in.st.PID, in.st.NextRestart = StateStopped, 0, time.Time{}
	if in.announced {
		in.emitLocked()
	}
	in.mu.Unlock()
	close(in.done)
}

func (in *instance) isStopping() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stopping
}

func (in *instance) status() InstanceStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st
}

func (in *instance) markRunning(pid int) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.proc == nil || in.st.State != StateStarting || (pid != 0 && pid != in.proc.pid) {
		return false
	}
	in.st.State = StateRunning
	in.emitLocked()
	return true
}

// emitLocked queues the current status for OnState; in.mu must be held,
// which is what keeps the events of one instance in order.
func (in *instance) emitLocked() {
	in.announced = true
	in.d.events.push(in.st)
}
