package main

import (
	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssSampler polls /proc every interval for the provider processes that
// OpenTofu started (direct children of the tofu process whose executable
// is named like the provider) and keeps the largest RSS it saw, plus the
// largest VmHWM (the kernel's own peak RSS of each process), which also
// covers peaks between two polls.
type rssSampler struct {
	parent   int
	exeName  string
	interval time.Duration

	mu      sync.Mutex
	maxRSS  int64 // bytes
	maxHWM  int64 // bytes
	pids    map[int]bool
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func startRSSSampler(parent int, exeName string, interval time.Duration) *rssSampler {
	s := &rssSampler{parent: parent, exeName: exeName, interval: interval, pids: map[int]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *rssSampler) loop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.poll()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *rssSampler) poll() {
	for _, pid := range childrenOf(s.parent) {
		if !s.isProvider(pid) {
			continue
		}
		rss, hwm, ok := benchkit.MemOf(pid)
		if !ok {
			continue
		}
		s.mu.Lock()
		s.pids[pid] = true
		s.samples++
		s.maxRSS = max(s.maxRSS, rss)
		s.maxHWM = max(s.maxHWM, hwm)
		s.mu.Unlock()
	}
}

func (s *rssSampler) isProvider(pid int) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	return strings.HasPrefix(filepath.Base(exe), s.exeName)
}

// finish stops the sampler and returns the peaks in bytes and how many
// provider processes it saw.
func (s *rssSampler) finish() (maxRSS, maxHWM int64, procs, samples int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRSS, s.maxHWM, len(s.pids), s.samples
}

// childrenOf lists the direct children of pid, from
// /proc/PID/task/*/children when the kernel has it, else by scanning the
// parent of every process.
func childrenOf(pid int) []int {
	base := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(base)
	if err == nil {
		var out []int
		found := false
		for _, t := range tasks {
			b, err := os.ReadFile(base + "/" + t.Name() + "/children")
			if err != nil {
				continue
			}
			found = true
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
		if found {
			return out
		}
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppidOf(c) == pid {
			out = append(out, c)
		}
	}
	return out
}

func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name is in parentheses and may hold spaces: parse after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1
	}
	p, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return p
}
