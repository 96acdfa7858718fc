package kubenode

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// process is one container instance: the leader of its own process group,
// killed with the test process (Pdeathsig), its output in a log file.
type process struct {
	cmd      *exec.Cmd
	pid      int
	started  time.Time
	finished time.Time
	exitCode int32
	signal   syscall.Signal // the signal that ended it, if one did

	mu     sync.Mutex
	reaped bool // once set, pid no longer names the group: never signal it

	done    chan struct{} // closed when the leader is reaped and its group killed
	logDone chan struct{} // closed when the log has been read to its end
}

// startProcess runs argv (argv[0] resolved to path) with env in dir, its
// stdout and stderr appended to logPath one timestamped line at a time. It
// is forked from ns's thread, so it runs in the pod's network namespace;
// with ns nil (a hostNetwork pod) it runs in the host's.
func startProcess(ns *nsThread, path string, argv, env []string, dir, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		logf.Close()
		r.Close()
		w.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path: path, Args: argv, Env: env, Dir: dir,
		Stdin: devnull, Stdout: w, Stderr: w,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	err = startCmd(ns, cmd)
	w.Close()
	devnull.Close()
	if err != nil {
		r.Close()
		logf.Close()
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{}), logDone: make(chan struct{})}
	go func() {
		defer close(p.logDone)
		defer logf.Close()
		defer r.Close()
		copyLines(r, logf)
	}()
	go p.reap()
	return p, nil
}

// startCmd starts cmd from ns's thread, or from any thread with ns nil.
// Pdeathsig is tied to the thread that forks: ns's thread lives until the
// pod's processes are gone (and after: it is unlocked, never ended), and
// other threads of the agent's process live as long as it does (the runtime
// ends only threads whose locked goroutine exits).
func startCmd(ns *nsThread, cmd *exec.Cmd) error {
	if ns == nil {
		return cmd.Start()
	}
	return ns.do(cmd.Start)
}

// reap waits for the leader to exit without reaping it, kills the rest of
// its group while the zombie leader still holds the group's id (so the id
// cannot have been reused), then reaps it.
func (p *process) reap() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	p.mu.Lock()
	_ = syscall.Kill(-p.pid, syscall.SIGKILL) // the group's other members; ESRCH when none is left
	p.reaped = true
	p.mu.Unlock()
	_ = p.cmd.Wait() // the exit status is read from ProcessState below
	p.finished = time.Now()
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		p.signal = ws.Signal()
		p.exitCode = 128 + int32(ws.Signal())
	} else {
		p.exitCode = int32(p.cmd.ProcessState.ExitCode())
	}
	close(p.done)
}

// signalGroup sends sig to the process group unless the leader is gone.
func (p *process) signalGroup(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		_ = syscall.Kill(-p.pid, sig) // ESRCH: the group is already gone
	}
}

// terminate sends SIGTERM to the group, waits up to grace (or until hurry
// is closed) for the leader to exit, then sends SIGKILL; it returns once the
// process is gone.
func (p *process) terminate(grace time.Duration, hurry <-chan struct{}) {
	if grace > 0 {
		p.signalGroup(syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
		case <-hurry:
		}
		t.Stop()
	}
	p.signalGroup(syscall.SIGKILL)
	<-p.done
}

// copyLines copies r to w line by line, each line prefixed with the time
// it was read (RFC 3339, nanoseconds) and a space.
func copyLines(r io.Reader, w io.Writer) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				line = append(line, '\n')
			}
			ts := time.Now().UTC().Format(time.RFC3339Nano)
			buf := make([]byte, 0, len(ts)+1+len(line))
			buf = append(append(append(buf, ts...), ' '), line...)
			if _, werr := w.Write(buf); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
