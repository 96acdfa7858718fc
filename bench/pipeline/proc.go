package main

import (
	"fmt"
	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTimes is a process's CPU time: its own (utime+stime) and that of its
// children it has waited for (cutime+cstime: the cell's git processes and
// build tasks).
type cpuTimes struct {
	at          time.Time
	self, child time.Duration
}

// readCPU reads /proc/PID/stat ("self" for this program).
func readCPU(pid int) (cpuTimes, error) {
	p := "self"
	if pid > 0 {
		p = strconv.Itoa(pid)
	}
	b, err := os.ReadFile("/proc/" + p + "/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	at := time.Now()
	// The command name is in parentheses and may hold spaces: parse after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTimes{}, fmt.Errorf("unexpected /proc/%s/stat", p)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime, stime, cutime, cstime are fields 14–17.
	if len(f) < 15 {
		return cpuTimes{}, fmt.Errorf("unexpected /proc/%s/stat", p)
	}
	var t [4]int64
	for k := range t {
		if t[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/%s/stat: %w", p, err)
		}
	}
	tick := time.Second / clockTicks
	return cpuTimes{at: at, self: time.Duration(t[0]+t[1]) * tick, child: time.Duration(t[2]+t[3]) * tick}, nil
}

// cores is the average number of cores used between a and b: the
// process's own and with its children.
func cores(a, b cpuTimes) (self, withChildren float64) {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0, 0
	}
	s := (b.self - a.self).Seconds()
	c := (b.child - a.child).Seconds()
	return s / wall, (s + c) / wall
}

// rssSampler polls the cell's VmRSS and keeps the largest.
type rssSampler struct {
	pid    int
	mu     sync.Mutex
	maxRSS int64
	stop   chan struct{}
	done   chan struct{}
}

func startRSSSampler(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if rss, _, ok := benchkit.MemOf(pid); ok {
				s.mu.Lock()
				s.maxRSS = max(s.maxRSS, rss)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) finish() int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRSS
}
