package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// EnvCell is the environment variable that marks every process of a cell's
// instances. It is inherited by everything an instance forks, which is what
// lets SweepOrphans find processes that left their process group.
const EnvCell = "PAVED_CELL"

// SweepOrphans kills every process left over from an earlier run of the
// cell cellID: each process whose environment holds exactly
// PAVED_CELL=<cellID> is sent SIGKILL, and so is its process group when it
// leads one (an instance's /bin/sh does). Groups whose leader does not carry
// the entry are never signalled as a whole, and neither is the caller's own
// process or process group. The cell calls this at startup, before starting
// anything, to clean up after a crash or kill -9 that Pdeathsig did not
// fully cover (Pdeathsig reaches only the direct child).
//
// It returns how many matching processes it signalled and waits (briefly)
// for them to die, so their ports are free when it returns. Processes it
// cannot inspect (other users', without privileges) are skipped.
func SweepOrphans(cellID string) (killed int, err error) {
	if cellID == "" {
		return 0, errors.New("runtime: SweepOrphans needs a cell id")
	}
	pids, err := killMatching([]string{EnvCell + "=" + cellID})
	waitGone(pids, 2*time.Second)
	return len(pids), err
}

// killMatching SIGKILLs processes whose environment holds all of entries,
// repeating the scan a few times because a process may fork while we work.
func killMatching(entries []string) ([]int, error) {
	self, selfPgid := os.Getpid(), syscall.Getpgrp()
	seen := map[int]bool{}
	var killed []int
	for pass := 0; pass < 5; pass++ {
		pids, err := findByEnv(entries)
		if err != nil {
			return killed, err
		}
		fresh := 0
		for _, pid := range pids {
			if pid == self || seen[pid] {
				continue
			}
			seen[pid] = true
			fresh++
			killed = append(killed, pid)
			// Only a group whose leader carries the entry is ours to kill.
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid && pgid != selfPgid {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if fresh == 0 {
			break
		}
	}
	return killed, nil
}

// findByEnv lists the pids whose /proc/<pid>/environ has every entry.
func findByEnv(entries []string) ([]int, error) {
	pids, err := allPids()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pid := range pids {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil || len(env) == 0 { // gone, not ours to read, or a kernel thread/zombie
			continue
		}
		if hasAllEnv(env, entries) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// hasAllEnv reports whether the NUL-separated environ block contains each
// entry as a whole "KEY=value" element (not as a prefix or substring).
func hasAllEnv(environ []byte, entries []string) bool {
	for _, want := range entries {
		found := false
		for rest := environ; len(rest) > 0 && !found; {
			elem := rest
			if i := bytes.IndexByte(rest, 0); i >= 0 {
				elem, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			found = string(elem) == want
		}
		if !found {
			return false
		}
	}
	return true
}

func allPids() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("runtime: list processes: %w", err)
	}
	pids := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// procStat is the part of /proc/<pid>/stat the driver needs.
type procStat struct {
	state byte // 'R', 'S', 'Z', ...
	ppid  int
	pgrp  int
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name is in parentheses and may itself contain ") ", so
	// the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) == 0 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ppid, _ := strconv.Atoi(string(f[1]))
	pgrp, _ := strconv.Atoi(string(f[2]))
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp}, nil
}

func deadState(s byte) bool { return s == 'Z' || s == 'X' }

// processGone reports whether pid no longer runs. A zombie counts as gone:
// it holds no resources but a pid, and reaping it is its parent's job.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	st, err := readProcStat(pid)
	return err != nil || deadState(st.state)
}

// groupLive reports whether any process of group pgid still runs. The cheap
// kill(-pgid, 0) answers almost always; only when it finds members does a
// /proc scan check whether they are all zombies waiting for an init that may
// never reap them.
func groupLive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	pids, err := allPids()
	if err != nil {
		return true
	}
	for _, pid := range pids {
		if st, err := readProcStat(pid); err == nil && st.pgrp == pgid && !deadState(st.state) {
			return true
		}
	}
	return false
}

// waitGone polls until every pid is gone or timeout passes.
func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for !processGone(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// reapIfChild collects pid's exit status if it is our child (typically
// re-parented to us because the cell is a subreaper), so a killed stray does
// not stay a zombie. It must only be called for processes known to be
// instance descendants, never for children other parts of the cell may be
// waiting for. It polls rather than blocks, so a process stuck in the kernel
// cannot wedge the caller.
func reapIfChild(pid int) {
	st, err := readProcStat(pid)
	if err != nil || st.ppid != os.Getpid() {
		return
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		got, err := syscall.Wait4(pid, nil, syscall.WNOHANG, nil)
		if got == pid || (err != nil && err != syscall.EINTR) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setChildSubreaper makes orphaned descendants re-parent to this process
// instead of to PID 1 (prctl PR_SET_CHILD_SUBREAPER).
func setChildSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return errno
	}
	return nil
}
