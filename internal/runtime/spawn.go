package runtime

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Why every fork happens on one locked thread
//
// Pdeathsig is delivered when the *thread* that forked the child exits, not
// when the process does (see go.dev/issue/27505). The Go scheduler may fork
// from any OS thread, and it retires a thread when a goroutine that called
// runtime.LockOSThread returns without unlocking. A goroutine that never
// locks is not enough: the thread it happened to fork on can later run some
// other goroutine (ours or another package's) that locks it and exits, and
// the kernel would then kill a perfectly healthy instance.
//
// So the driver forks only from spawnLoop, a goroutine that locks itself to
// its thread and never returns. A locked thread runs no other goroutine and
// is never retired, so it lives exactly as long as the cell process, which is
// precisely the lifetime we want Pdeathsig to follow. The loop is shared by
// all drivers in the process and started on first use.

var (
	spawnOnce sync.Once
	spawnReqs chan spawnRequest
)

type spawnRequest struct {
	name  string
	argv  []string
	attr  *os.ProcAttr
	reply chan spawnResult
}

type spawnResult struct {
	p   *os.Process
	err error
}

// startOnSpawnThread is os.StartProcess, executed on the dedicated thread.
func startOnSpawnThread(name string, argv []string, attr *os.ProcAttr) (*os.Process, error) {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnRequest)
		go spawnLoop()
	})
	req := spawnRequest{name: name, argv: argv, attr: attr, reply: make(chan spawnResult, 1)}
	spawnReqs <- req
	res := <-req.reply
	return res.p, res.err
}

func spawnLoop() {
	// Deliberately never unlocked; see the comment at the top of the file.
	goruntime.LockOSThread()
	for req := range spawnReqs {
		p, err := os.StartProcess(req.name, req.argv, req.attr)
		req.reply <- spawnResult{p, err}
	}
}

// launchSpec is everything needed to start one process of an instance.
type launchSpec struct {
	dir      string
	env      []string
	command  string
	cgroupFD int // -1 when the instance has no cgroup
	// onLine receives every stdout/stderr line; it must be safe for
	// concurrent use by the two pump goroutines.
	onLine func(stream, text string)
}

// proc is one running (or finished) process tree of an instance.
type proc struct {
	pid     int // of /bin/sh; also the process group id (Setpgid)
	started time.Time

	exited   chan struct{} // closed once the group leader has been reaped
	status   string        // how the leader ended; valid after exited
	exitedAt time.Time     // valid after exited

	groupReaped chan struct{} // closed when no child of ours is left in the group

	oomBase int // the cgroup's OOM-kill count when this process started

	logs  sync.WaitGroup // the two pump goroutines
	pipes []*os.File     // read ends, closed by the pumps or by drainLogs
}

// launch starts /bin/sh -c command in a new process group on the spawn
// thread and starts reaping it and pumping its output.
func launch(ls launchSpec) (*proc, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}

	p, err := startShell(ls, []*os.File{devnull, outW, errW})
	// The child has its own copies of the write ends; ours must go or the
	// pumps would never see EOF.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}

	pr := &proc{
		pid:         p.Pid,
		started:     time.Now(),
		exited:      make(chan struct{}),
		groupReaped: make(chan struct{}),
		pipes:       []*os.File{outR, errR},
	}
	// We reap with wait4 on the whole group (see reap), so the os.Process
	// handle (a pidfd) is not needed.
	p.Release()

	go pr.reap()
	pr.logs.Add(2)
	go pr.pump(outR, "stdout", ls.onLine)
	go pr.pump(errR, "stderr", ls.onLine)
	return pr, nil
}

// startShell forks /bin/sh with the instance's attributes. If the kernel is
// too old for clone3 (needed to start a process directly inside a cgroup),
// it starts the process normally and moves it into the cgroup right after;
// the few instructions it runs outside the limit do not matter.
func startShell(ls launchSpec, files []*os.File) (*os.Process, error) {
	attr := func(useCgroup bool) *os.ProcAttr {
		sys := &syscall.SysProcAttr{
			Setpgid:   true,            // own group: one signal reaches the whole tree
			Pdeathsig: syscall.SIGKILL, // die with the cell (see top of file)
		}
		if useCgroup {
			sys.UseCgroupFD = true
			sys.CgroupFD = ls.cgroupFD
		}
		return &os.ProcAttr{Dir: ls.dir, Env: ls.env, Files: files, Sys: sys}
	}
	argv := []string{"sh", "-c", shellCommand(ls.command)}
	if ls.cgroupFD < 0 {
		return startOnSpawnThread("/bin/sh", argv, attr(false))
	}
	p, err := startOnSpawnThread("/bin/sh", argv, attr(true))
	if !errors.Is(err, syscall.ENOSYS) {
		return p, err
	}
	p, err = startOnSpawnThread("/bin/sh", argv, attr(false))
	if err != nil {
		return nil, err
	}
	if err := moveToCgroupFD(ls.cgroupFD, p.Pid); err != nil {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		_, _ = syscall.Wait4(p.Pid, nil, 0, nil)
		p.Release()
		return nil, fmt.Errorf("move process into its cgroup: %w", err)
	}
	return p, nil
}

// reap waits for every child of ours in the process group. The leader is
// always our child; other members become our children when their parent
// dies and the cell is a subreaper (ProcessOptions.Subreaper). Reaping them
// here is what keeps zombies from piling up when the machine's init does not
// reap orphans. wait4(-pgid) cannot steal exit statuses from other parts of
// the cell, because nothing else runs in an instance's group.
func (p *proc) reap() {
	defer close(p.groupReaped)
	leaderDone := false
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-p.pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD: nothing of ours is left in the group
			if !leaderDone { // cannot happen unless someone else reaped our child
				p.status, p.exitedAt = "lost: "+err.Error(), time.Now()
				close(p.exited)
			}
			return
		}
		if pid == p.pid {
			p.status, p.exitedAt = describeExit(ws), time.Now()
			leaderDone = true
			close(p.exited)
		}
	}
}

// describeExit renders a wait status the way os.ProcessState does, so
// LastExit reads like Go's own error messages ("exit status 1",
// "signal: killed").
func describeExit(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		s := "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	default:
		return fmt.Sprintf("wait status %#x", uint32(ws))
	}
}

// signalGroup sends sig to every process in the group pgid. ESRCH (group
// already gone) is not an error worth reporting.
func signalGroup(pgid int, sig syscall.Signal) {
	if pgid > 1 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// shellCommand makes a simple command replace the shell (exec), so the
// instance's pid is the app itself: signals and Pdeathsig reach it directly
// instead of stopping at a shell whose child would outlive the cell. Commands
// with shell control operators keep their shell.
func shellCommand(command string) string {
	c := strings.TrimSpace(command)
	if c == "" || strings.ContainsAny(c, ";&|\n()`<>{}") {
		return command
	}
	first := strings.Fields(c)[0]
	if shellWords[first] || strings.Contains(first, "=") {
		return command // a builtin, keyword or env assignment: exec would break it
	}
	return "exec " + c
}

// shellWords are first words that only the shell itself understands.
var shellWords = map[string]bool{
	"exec": true, "exit": true, "return": true, "cd": true, "export": true, "readonly": true,
	"set": true, "unset": true, "trap": true, "eval": true, "source": true, ".": true, "wait": true,
	"shift": true, "read": true, "ulimit": true, "umask": true, "alias": true, "if": true, "for": true,
	"while": true, "until": true, "case": true, "!": true, "[[": true, ":": true,
}
