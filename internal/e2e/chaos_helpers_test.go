package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// chaosProc is a live process as /proc shows it.
type chaosProc struct {
	pid, pgid int
	start     string // start time in clock ticks since boot: tells a reused pid apart
	env       map[string]string
}

// procEnv reads a process's environment (nil when it is gone or unreadable).
func procEnv(pid int) map[string]string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil || len(b) == 0 {
		return nil
	}
	env := map[string]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env
}

// procStat reads a live (not zombie) process's group and start time.
func procStat(pid int) (chaosProc, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return chaosProc{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return chaosProc{}, false
	}
	// Fields after the command: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime cutime cstime priority nice
	// num_threads itrealvalue starttime ...
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return chaosProc{}, false
	}
	pgid, _ := strconv.Atoi(f[2])
	return chaosProc{pid: pid, pgid: pgid, start: f[19]}, true
}

// cellProcs lists the live processes whose environment carries
// PAVED_CELL=id: everything a cell started (instances, builds, tasks).
func cellProcs(id string) []chaosProc {
	if id == "" {
		return nil
	}
	var out []chaosProc
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env := procEnv(pid)
		if env["PAVED_CELL"] != id {
			continue
		}
		p, ok := procStat(pid)
		if !ok {
			continue
		}
		p.env = env
		out = append(out, p)
	}
	return out
}

// killedStart starts a cell with its command line and SIGKILLs it after
// the given time, as a machine that dies again while the cell comes up.
func killedStart(argv []string, logPath string, after time.Duration) error {
	if len(argv) == 0 {
		return fmt.Errorf("no command line to start the cell with")
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	time.Sleep(after)
	cmd.Process.Kill()
	cmd.Wait()
	return nil
}

// sigkillPending tells whether a SIGKILL is queued for a process: it is
// dying, only stuck in an uninterruptible wait (an fsync, say) for now.
func sigkillPending(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "SigPnd" && k != "ShdPnd") {
			continue
		}
		if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && mask&(1<<(9-1)) != 0 {
			return true
		}
	}
	return false
}
