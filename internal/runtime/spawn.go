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

	"github.com/pavedroad/terraform-provider-paved/internal/sandbox"
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
	cgroupFD int // -1 when the instance has no cgroup, or a v1 one
	// place moves the started process into its cgroups when it could not
	// be started in them (cgroup v1); nil when it has none.
	place func(pid int) error
	// sandbox, when set, runs the command isolated (package sandbox);
	// its Dir, Argv and Env are filled in from the rest of launchSpec.
	sandbox *sandbox.Config
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

	launch *sandbox.Launch // the sandbox's, nil when not isolated

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

	p, l, err := startShell(ls, []*os.File{devnull, outW, errW})
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
		launch:      l,
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

// startShell forks /bin/sh, or the sandbox's init that runs it, with the
// instance's attributes, and places it in its cgroups. If the kernel is
// too old for clone3 (needed to start a process directly inside a v2
// cgroup), or the host has v1 cgroups, it starts the process normally and
// moves it into the cgroups right after: a sandbox's init waits for that
// before it starts the command; an unsandboxed shell runs a few
// instructions outside its limit, which do not matter.
func startShell(ls launchSpec, files []*os.File) (*os.Process, *sandbox.Launch, error) {
	argv := []string{"sh", "-c", shellCommand(ls.command)}
	name, dir, env := "/bin/sh", ls.dir, ls.env
	sys := func() *syscall.SysProcAttr {
		return &syscall.SysProcAttr{
			Setpgid:   true,            // own group: one signal reaches the whole tree
			Pdeathsig: syscall.SIGKILL, // die with the cell (see top of file)
		}
	}
	var l *sandbox.Launch
	if ls.sandbox != nil {
		cfg := *ls.sandbox
		cfg.Dir, cfg.Argv, cfg.Env = ls.dir, append([]string{"/bin/sh"}, argv[1:]...), ls.env
		var err error
		if l, err = sandbox.New(cfg); err != nil {
			return nil, nil, err
		}
		// The init gets only the markers SweepOrphans looks for; the
		// command's environment travels in its Config.
		name, dir, env = l.Path, "/", sandbox.Markers(ls.env, EnvCell, EnvInstance)
		argv = l.Args
		files = append(files, l.ChildFiles...)
		sys = sandbox.SysProcAttr
		defer l.CloseChildFiles()
	}
	attr := func(useCgroup bool) *os.ProcAttr {
		s := sys()
		if useCgroup {
			s.UseCgroupFD = true
			s.CgroupFD = ls.cgroupFD
		}
		return &os.ProcAttr{Dir: dir, Env: env, Files: files, Sys: s}
	}
	// Unsandboxed, on cgroup v1: the shell waits on fd 3 until it has been
	// placed, or a command that forks at once (sh -c "a | b") would leave
	// children outside the limits. (A sandbox's init waits by itself.)
	var gate *os.File
	if l == nil && ls.place != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil, err
		}
		defer r.Close()
		argv = []string{"sh", "-c", gateScript, "sh", shellCommand(ls.command)}
		files, gate = append(files, r), w
	}
	fail := func(p *os.Process, err error) (*os.Process, *sandbox.Launch, error) {
		if l != nil {
			l.Abort()
		}
		if gate != nil {
			gate.Close()
		}
		if p != nil {
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
			_, _ = syscall.Wait4(p.Pid, nil, 0, nil)
			p.Release()
		}
		return nil, nil, err
	}
	var p *os.Process
	var err error
	place := ls.place
	if ls.cgroupFD >= 0 {
		p, err = startOnSpawnThread(name, argv, attr(true))
		if errors.Is(err, syscall.ENOSYS) {
			fd := ls.cgroupFD
			place = func(pid int) error { return moveToCgroupFD(fd, pid) }
		} else {
			place = nil // started inside its cgroup
		}
	}
	if p == nil && err == nil || errors.Is(err, syscall.ENOSYS) {
		p, err = startOnSpawnThread(name, argv, attr(false))
	}
	if err != nil {
		return fail(nil, err)
	}
	if place != nil {
		if err := place(p.Pid); err != nil {
			return fail(p, fmt.Errorf("move process into its cgroup: %w", err))
		}
	}
	if gate != nil {
		_, err := gate.WriteString("\n")
		gate.Close()
		if err != nil {
			return fail(p, fmt.Errorf("start the placed shell: %w", err))
		}
	}
	if l != nil {
		if err := l.Release(); err != nil {
			return fail(p, fmt.Errorf("start sandbox: %w", err))
		}
	}
	return p, l, nil
}

// gateScript holds an unsandboxed shell until the cell has placed it in
// its cgroups (a line on fd 3), then runs the command ($1) in its place.
const gateScript = `read _ <&3 || exit 125; exec 3<&-; exec /bin/sh -c "$1"`

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
			p.status, p.exitedAt = sandbox.DescribeExit(ws), time.Now()
			if p.launch != nil {
				// The sandbox's init said how the command itself ended;
				// its own exit only mirrors that.
				if s := p.launch.Status(); s != "" {
					p.status = s
				}
			}
			leaderDone = true
			close(p.exited)
		}
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
