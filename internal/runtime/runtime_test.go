package runtime

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/sandbox"
)

// The Pdeathsig test re-executes the test binary as a "mini cell"; these
// variables tell it so and what to use.
const (
	helperEnv     = "PAVED_RUNTIME_TEST_HELPER"
	helperCellEnv = "PAVED_RUNTIME_TEST_CELL"
	helperDirEnv  = "PAVED_RUNTIME_TEST_DIR"
)

// isolated says which pass runs: the suite runs once with instances as the
// cell's own processes (--isolation none) and once sandboxed, as a space's
// unprivileged user, so both code paths keep every guarantee.
var isolated bool

// testUID is the space user of the isolated pass.
const testUID = 200_501

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "minicell" {
		os.Exit(miniCell())
	}
	passes := []bool{false, true}
	switch os.Getenv("RUNTIME_TEST_ISOLATION") {
	case "none":
		passes = []bool{false}
	case "sandbox":
		passes = []bool{true}
	}
	code := 0
	for _, iso := range passes {
		isolated = iso
		fmt.Printf("=== runtime isolation: %v\n", iso)
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

// miniCell starts one instance through a driver, prints its pid and waits
// to be killed.
func miniCell() int {
	dir := os.Getenv(helperDirEnv)
	d, err := NewProcessDriver(ProcessOptions{CellID: os.Getenv(helperCellEnv), Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := d.Start(InstanceSpec{ID: "orphan-check", App: "test/orphan", Dir: dir, Command: "exec sleep 300"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("PID %d\n", st.PID)
	time.Sleep(time.Hour)
	return 0
}

// recorder collects what the driver reports through its callbacks.
type recorder struct {
	mu     sync.Mutex
	lines  []LogLine
	states []InstanceStatus
}

func (r *recorder) onLog(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
}

func (r *recorder) onState(s InstanceStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func (r *recorder) linesOf(id string) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []LogLine
	for _, l := range r.lines {
		if l.Instance == id {
			out = append(out, l)
		}
	}
	return out
}

func (r *recorder) statesOf(id string) []InstanceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []InstanceStatus
	for _, s := range r.states {
		if s.ID == id {
			out = append(out, s)
		}
	}
	return out
}

func (r *recorder) hasLine(id, stream, text string) bool {
	for _, l := range r.linesOf(id) {
		if l.Stream == stream && l.Text == text {
			return true
		}
	}
	return false
}

func (r *recorder) lastState(id string) State {
	s := r.statesOf(id)
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1].State
}

func randomID(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

type testDriver struct {
	*ProcessDriver
	rec  *recorder
	cell string
	dir  string
}

// newTestDriver returns a driver with a fresh cell id and state dir. It is
// a subreaper because this machine's PID 1 may not reap orphans, and the
// tests assert that nothing, zombies included, is left in a stopped group.
func newTestDriver(t *testing.T, backoff BackoffPolicy) *testDriver {
	t.Helper()
	rec := &recorder{}
	td := &testDriver{rec: rec, cell: randomID("test"), dir: t.TempDir()}
	d, err := NewProcessDriver(ProcessOptions{
		CellID:    td.cell,
		Dir:       td.dir,
		OnLog:     rec.onLog,
		OnState:   rec.onState,
		Backoff:   backoff,
		Subreaper: true,
		Isolation: testIsolation(),
	})
	if err != nil {
		t.Fatal(err)
	}
	td.ProcessDriver = d
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.StopAll(ctx, time.Second); err != nil {
			t.Errorf("StopAll: %v", err)
		}
		if _, err := SweepOrphans(td.cell); err != nil {
			t.Errorf("SweepOrphans: %v", err)
		}
	})
	return td
}

func (td *testDriver) spec(id, command string) InstanceSpec {
	s := InstanceSpec{ID: id, App: "space/app", Release: 3, Dir: td.dir, Command: command}
	if isolated {
		s.UID, s.GID = testUID, testUID
	}
	return s
}

func testIsolation() *Isolation {
	if !isolated {
		return nil
	}
	return &Isolation{}
}

func (td *testDriver) start(t *testing.T, spec InstanceSpec) InstanceStatus {
	t.Helper()
	st, err := td.Start(spec)
	if err != nil {
		t.Fatalf("Start(%s): %v", spec.ID, err)
	}
	return st
}

func (td *testDriver) stop(t *testing.T, id string, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := td.Stop(ctx, id, grace); err != nil {
		t.Fatalf("Stop(%s): %v", id, err)
	}
}

// waitFor polls cond until it holds or a generous timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostPID is the host's pid of the process an instance knows as pid: the
// same number unless the instance is sandboxed in its own PID namespace,
// whose first process (the sandbox's init) is leader.
func hostPID(t *testing.T, leader, pid int) int {
	t.Helper()
	if !isolated {
		return pid
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", leader))
	if err != nil {
		t.Fatalf("pid namespace of %d: %v", leader, err)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		host, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, _ := os.Readlink(filepath.Join("/proc", e.Name(), "ns/pid")); l != ns {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(strings.TrimPrefix(line, "NSpid:")); strings.HasPrefix(line, "NSpid:") && len(f) > 1 && f[len(f)-1] == strconv.Itoa(pid) {
				return host
			}
		}
	}
	t.Fatalf("no process %d in the PID namespace of %d", pid, leader)
	return 0
}

func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

func pidGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestEnvironment(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	spec := td.spec("env-1", "env; exec sleep 300")
	spec.Env = map[string]string{"GREETING": "hello world", "PORT": "1", "PAVED_CELL": "forged"}
	st := td.start(t, spec)
	if st.Port == 0 || st.PID == 0 || st.State != StateStarting {
		t.Fatalf("Start returned %+v", st)
	}

	scratch := filepath.Join(td.dir, "instances", "env-1", "tmp")
	want := []string{
		"PORT=" + strconv.Itoa(st.Port),
		"PAVED_INSTANCE=env-1",
		"PAVED_APP=space/app",
		"PAVED_RELEASE=3",
		"PAVED_CELL=" + td.cell,
		"GREETING=hello world",
		"HOME=" + scratch,
		"TMPDIR=" + scratch,
	}
	for _, w := range want {
		waitFor(t, "env line "+w, func() bool { return td.rec.hasLine("env-1", "stdout", w) })
	}
	for _, bad := range []string{"PORT=1", "PAVED_CELL=forged"} {
		if td.rec.hasLine("env-1", "stdout", bad) {
			t.Errorf("app env overrode a driver variable: %s", bad)
		}
	}
	if !td.rec.hasLine("env-1", "stdout", "PATH="+os.Getenv("PATH")) {
		t.Errorf("PATH not inherited from the cell")
	}
	if fi, err := os.Stat(scratch); err != nil || !fi.IsDir() {
		t.Fatalf("scratch dir: %v", err)
	}
	td.stop(t, "env-1", time.Second)
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch dir still there after Stop: %v", err)
	}
}

func TestLogs(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	td.start(t, td.spec("logs-1", `echo out-line; echo err-line >&2; printf tail-without-newline; exec sleep 300`))
	waitFor(t, "stdout line", func() bool { return td.rec.hasLine("logs-1", "stdout", "out-line") })
	waitFor(t, "stderr line", func() bool { return td.rec.hasLine("logs-1", "stderr", "err-line") })

	// The unterminated last line only ends at EOF, i.e. when the process goes.
	td.stop(t, "logs-1", time.Second)
	if !td.rec.hasLine("logs-1", "stdout", "tail-without-newline") {
		t.Errorf("unterminated line lost: %+v", td.rec.linesOf("logs-1"))
	}
	for _, l := range td.rec.linesOf("logs-1") {
		if l.App != "space/app" || l.Time.IsZero() {
			t.Errorf("incomplete log line %+v", l)
		}
	}

	b, err := os.ReadFile(filepath.Join(td.dir, "instances", "logs-1", "logs-1.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" stdout out-line\n", " stderr err-line\n", " stdout tail-without-newline\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log file lacks %q:\n%s", want, b)
		}
	}
	first, _, _ := strings.Cut(string(b), " ")
	if _, err := time.Parse(time.RFC3339Nano, first); err != nil {
		t.Errorf("log line does not start with a timestamp: %v", err)
	}
}

func TestLongLinesAreSplit(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	const n = 200000
	td.start(t, td.spec("long-1", fmt.Sprintf("head -c %d /dev/zero | tr '\\0' a; echo; echo done; exec sleep 300", n)))
	waitFor(t, "end marker", func() bool { return td.rec.hasLine("long-1", "stdout", "done") })
	total := 0
	for _, l := range td.rec.linesOf("long-1") {
		if len(l.Text) > maxLineBytes {
			t.Fatalf("line of %d bytes exceeds the %d limit", len(l.Text), maxLineBytes)
		}
		if strings.Trim(l.Text, "a") == "" {
			total += len(l.Text)
		}
	}
	if total != n {
		t.Errorf("got %d bytes of the long line, want %d", total, n)
	}
}

func TestOwnProcessGroup(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	st := td.start(t, td.spec("pg-1", "exec sleep 300"))
	pgid, err := syscall.Getpgid(st.PID)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != st.PID {
		t.Errorf("pgid %d, want %d (own group)", pgid, st.PID)
	}
	if pgid == syscall.Getpgrp() {
		t.Errorf("instance shares the test's process group")
	}
}

func TestCrashLoopBacksOff(t *testing.T) {
	const initial = 200 * time.Millisecond
	td := newTestDriver(t, BackoffPolicy{Initial: initial, Factor: 2, Max: 5 * time.Second})
	st := td.start(t, td.spec("crash-1", "echo boom; exit 1"))
	port := st.Port

	waitFor(t, "three crashes and a restart", func() bool {
		n := 0
		for _, s := range td.rec.statesOf("crash-1") {
			if s.State == StateStarting && s.Crashes >= 3 {
				n++
			}
		}
		return n > 0
	})

	// Walk the ordered events: starting, crashed, starting, crashed, ...
	var starts, crashes []InstanceStatus
	for _, s := range td.rec.statesOf("crash-1") {
		if s.Port != port {
			t.Fatalf("port changed across restarts: %d -> %d", port, s.Port)
		}
		switch s.State {
		case StateStarting:
			starts = append(starts, s)
		case StateCrashed:
			crashes = append(crashes, s)
			if s.LastExit != "exit status 1" {
				t.Errorf("LastExit = %q", s.LastExit)
			}
			if s.Crashes != len(crashes) {
				t.Errorf("crash event %d reports Crashes=%d", len(crashes), s.Crashes)
			}
		}
	}
	if len(starts) < 4 || len(crashes) < 3 {
		t.Fatalf("got %d starts and %d crashes", len(starts), len(crashes))
	}
	for i := range 2 {
		gap := starts[i+1].StartedAt.Sub(crashes[i].ExitedAt)
		want := initial << i
		if gap < want {
			t.Errorf("restart %d came %v after crash %d, want >= %v", i+2, gap, i+1, want)
		}
	}
	if !td.rec.hasLine("crash-1", "stdout", "boom") {
		t.Error("output of crashing process not captured")
	}
}

func TestStopDuringBackoffCancelsRestart(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{Initial: time.Hour})
	td.start(t, td.spec("backoff-1", "exit 3"))
	waitFor(t, "crash", func() bool {
		st, ok := td.Status("backoff-1")
		return ok && st.State == StateCrashed
	})
	st, _ := td.Status("backoff-1")
	if st.NextRestart.IsZero() || st.PID != 0 || st.LastExit != "exit status 3" {
		t.Errorf("crashed status %+v", st)
	}
	td.stop(t, "backoff-1", time.Second) // would hang for an hour if it waited for the restart
	if _, ok := td.Status("backoff-1"); ok {
		t.Error("stopped instance still listed")
	}
	waitFor(t, "stopped event", func() bool { return td.rec.lastState("backoff-1") == StateStopped })
	states := td.rec.statesOf("backoff-1")
	for _, s := range states[1:] {
		if s.State == StateStarting {
			t.Errorf("restarted after Stop: %+v", states)
		}
	}
}

func TestStopKillsProcessIgnoringTERM(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	st := td.start(t, td.spec("term-1", `trap '' TERM; echo ready; sleep 100`))
	waitFor(t, "trap installed", func() bool { return td.rec.hasLine("term-1", "stdout", "ready") })

	const grace = 300 * time.Millisecond
	begin := time.Now()
	td.stop(t, "term-1", grace)
	if took := time.Since(begin); took < grace {
		t.Errorf("Stop returned after %v, before the %v grace", took, grace)
	}
	if !groupGone(st.PID) {
		t.Errorf("process group %d still has members after Stop", st.PID)
	}
	states := td.rec.statesOf("term-1")
	waitFor(t, "stopped event", func() bool { states = td.rec.statesOf("term-1"); return td.rec.lastState("term-1") == StateStopped })
	if last := states[len(states)-1]; last.LastExit != "signal: killed" || last.Crashes != 0 {
		t.Errorf("final status %+v", last)
	}
}

func TestStopKillsGrandchildren(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	st := td.start(t, td.spec("gc-1", `sleep 300 & echo "child $!"; wait`))
	var child int
	waitFor(t, "grandchild pid", func() bool {
		for _, l := range td.rec.linesOf("gc-1") {
			if n, ok := strings.CutPrefix(l.Text, "child "); ok {
				child, _ = strconv.Atoi(n)
			}
		}
		return child > 0
	})
	child = hostPID(t, st.PID, child)
	if pgid, err := syscall.Getpgid(child); !isolated && (err != nil || pgid != st.PID) {
		t.Fatalf("grandchild pgid %d (%v), want %d", pgid, err, st.PID)
	}
	td.stop(t, "gc-1", 5*time.Second)
	if !pidGone(child) {
		t.Errorf("grandchild %d survived Stop", child)
	}
	if !groupGone(st.PID) {
		t.Errorf("process group %d still has members after Stop", st.PID)
	}
}

// TestStopWithoutSubreaper covers the default mode: orphans go to PID 1,
// which may reap them late (or never), so the driver must treat a group
// holding only zombies as gone instead of waiting for it forever.
func TestStopWithoutSubreaper(t *testing.T) {
	const prSetChildSubreaper = 36
	setSubreaper := func(on uintptr) {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, on, 0); errno != 0 {
			t.Fatal(errno)
		}
	}
	td := newTestDriver(t, BackoffPolicy{})
	setSubreaper(0) // newTestDriver turned it on; the tests run one at a time
	defer setSubreaper(1)

	st := td.start(t, td.spec("nosub-1", `sleep 300 & echo "child $!"; wait`))
	var child int
	waitFor(t, "grandchild pid", func() bool {
		for _, l := range td.rec.linesOf("nosub-1") {
			if n, ok := strings.CutPrefix(l.Text, "child "); ok {
				child, _ = strconv.Atoi(n)
			}
		}
		return child > 0
	})
	child = hostPID(t, st.PID, child)
	td.stop(t, "nosub-1", 5*time.Second)
	if !processGone(child) {
		t.Errorf("grandchild %d still runs after Stop", child)
	}
	if groupLive(st.PID) {
		t.Errorf("group %d has live members after Stop", st.PID)
	}
}

func TestStopKillsProcessThatLeftItsGroup(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Fatalf("setsid (util-linux) is needed to start a process that leaves its group: %v", err)
	}
	td := newTestDriver(t, BackoffPolicy{})
	st := td.start(t, td.spec("stray-1", `setsid sh -c 'echo "stray $$"; exec sleep 300' & wait; exec sleep 300`))
	var stray int
	waitFor(t, "stray pid", func() bool {
		for _, l := range td.rec.linesOf("stray-1") {
			if n, ok := strings.CutPrefix(l.Text, "stray "); ok {
				stray, _ = strconv.Atoi(n)
			}
		}
		return stray > 0
	})
	stray = hostPID(t, st.PID, stray)
	td.stop(t, "stray-1", time.Second)
	if !pidGone(stray) {
		t.Errorf("process %d that left the group survived Stop", stray)
	}
}

func TestSweepOrphans(t *testing.T) {
	cell := randomID("sweep")
	startSleeper := func(env string) *exec.Cmd {
		cmd := exec.Command("sleep", "300")
		cmd.Env = append(os.Environ(), env)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // like an instance
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	orphan := startSleeper("PAVED_CELL=" + cell)
	other := startSleeper("PAVED_CELL=" + randomID("sweep"))
	lookalike := startSleeper("PAVED_CELL=" + cell + "x")

	killed, err := SweepOrphans(cell)
	if err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Errorf("killed %d processes, want 1", killed)
	}
	if err := orphan.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("orphan exit: %v, want signal: killed", err)
	}
	for _, c := range []*exec.Cmd{other, lookalike} {
		if processGone(c.Process.Pid) {
			t.Errorf("pid %d without the exact env entry was killed", c.Process.Pid)
		}
	}
	if _, err := SweepOrphans(""); err == nil {
		t.Error("SweepOrphans accepted an empty cell id")
	}
}

// TestPdeathsig kills a cell with SIGKILL and checks its instance dies too.
func TestPdeathsig(t *testing.T) {
	cell, dir := randomID("pdeath"), t.TempDir()
	t.Cleanup(func() { SweepOrphans(cell) })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=minicell", helperCellEnv+"="+cell, helperDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	pidc := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "PID "); ok {
				pid, _ := strconv.Atoi(n)
				pidc <- pid
				return
			}
		}
		close(pidc)
	}()
	var pid int
	select {
	case pid = <-pidc:
	case <-time.After(30 * time.Second):
		t.Fatal("mini cell did not report its instance")
	}
	if pid <= 0 || processGone(pid) {
		t.Fatalf("instance pid %d not running", pid)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// Gone, or a zombie: the instance may be re-parented to this test
	// process (a subreaper when other tests ran first), or to a PID 1 that
	// does not reap.
	waitFor(t, "instance to die with its cell", func() bool { return processGone(pid) })
	reapIfChild(pid)
}

// TestInstanceSurvivesThreadExit retires OS threads the way LockOSThread
// without Unlock does and checks no instance is killed by Pdeathsig for it.
func TestInstanceSurvivesThreadExit(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	st := td.start(t, td.spec("thread-1", "exec sleep 300"))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			goruntime.LockOSThread() // exit while locked: the thread is destroyed
			time.Sleep(time.Millisecond)
		})
	}
	wg.Wait()
	// Another spawn after the thread churn must also work.
	st2 := td.start(t, td.spec("thread-2", "exec sleep 300"))
	time.Sleep(200 * time.Millisecond) // give a wrong SIGKILL time to land
	for _, pid := range []int{st.PID, st2.PID} {
		if processGone(pid) {
			t.Errorf("instance %d died when an unrelated thread exited", pid)
		}
	}
	if s, _ := td.Status("thread-1"); s.Crashes != 0 {
		t.Errorf("instance crashed: %+v", s)
	}
}

func TestStopAll(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	var pids []int
	for i := range 3 {
		pids = append(pids, td.start(t, td.spec(fmt.Sprintf("all-%d", i), "exec sleep 300")).PID)
	}
	if got := td.List(); len(got) != 3 || got[0].ID != "all-0" || got[2].ID != "all-2" {
		t.Fatalf("List = %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := td.StopAll(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if got := td.List(); len(got) != 0 {
		t.Errorf("List after StopAll = %+v", got)
	}
	for _, pid := range pids {
		if !groupGone(pid) {
			t.Errorf("group %d survived StopAll", pid)
		}
	}
}

func TestStartErrors(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	td.start(t, td.spec("dup-1", "exec sleep 300"))
	if _, err := td.Start(td.spec("dup-1", "exec sleep 300")); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate Start: %v", err)
	}
	for _, bad := range []InstanceSpec{
		td.spec("../escape", "true"),
		td.spec("", "true"),
		td.spec("ok-1", " "),
		{ID: "ok-2", Command: "true", Dir: td.dir, Env: map[string]string{"A=B": "c"}},
	} {
		if _, err := td.Start(bad); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidSpec", bad, err)
		}
	}
	if err := td.Stop(context.Background(), "nope", time.Second); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop(unknown) = %v", err)
	}

	missing := td.spec("missing-dir", "true")
	missing.Dir = filepath.Join(td.dir, "does-not-exist")
	if _, err := td.Start(missing); err == nil {
		t.Fatal("Start in a missing dir succeeded")
	}
	if _, ok := td.Status("missing-dir"); ok {
		t.Error("failed Start left the instance registered")
	}
	missing.Dir = td.dir
	td.start(t, missing) // the id is free again
}

func TestMarkRunning(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	st := td.start(t, td.spec("mark-1", "exec sleep 300"))
	if td.MarkRunning("mark-1", st.PID+100000) {
		t.Error("MarkRunning accepted another process's pid")
	}
	if !td.MarkRunning("mark-1", st.PID) {
		t.Fatal("MarkRunning refused")
	}
	if s, _ := td.Status("mark-1"); s.State != StateRunning {
		t.Errorf("state %q, want running", s.State)
	}
	waitFor(t, "running event", func() bool { return td.rec.lastState("mark-1") == StateRunning })
	if td.MarkRunning("unknown", 0) {
		t.Error("MarkRunning of an unknown instance")
	}
}

func TestMemoryLimits(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	enforced, reason := td.MemoryLimits()
	if !enforced {
		// Every machine make test runs on has a memory controller (v1 or
		// v2); a probe that finds none has regressed.
		t.Fatalf("memory limits not enforced: %s", reason)
	}
	spec := td.spec("mem-1", "exec sleep 300")
	spec.MemoryMB = 64
	st := td.start(t, spec)
	cg := td.cgroups.instance("mem-1")
	limitFile := "memory.max"
	if td.cgroups.v1 {
		limitFile = "memory.limit_in_bytes"
	}
	b, err := os.ReadFile(filepath.Join(cg.dirs[0], limitFile))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(64<<20) {
		t.Errorf("%s = %q, %v", limitFile, b, err)
	}
	if td.cgroups.pids {
		b, err := os.ReadFile(filepath.Join(cg.dirs[len(cg.dirs)-1], "pids.max"))
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(DefaultPidsLimit) {
			t.Errorf("pids.max = %q, %v", b, err)
		}
	}
	for _, dir := range cg.dirs {
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(st.PID)) {
			t.Errorf("pid %d not in its cgroup %s: %q", st.PID, dir, procs)
		}
	}
	td.stop(t, "mem-1", time.Second)
	for _, dir := range cg.dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cgroup dir %s left after Stop: %v", dir, err)
		}
	}
}

// A command that forks at once leaves no child outside its cgroups, even on
// cgroup v1, where a process is placed after it started.
func TestChildrenStartInsideTheCgroup(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	for i := range 5 {
		id := fmt.Sprintf("cg-child-%d", i)
		spec := td.spec(id, `sleep 300 & echo "child $!"; wait`)
		spec.MemoryMB = 64
		st := td.start(t, spec)
		var child int
		waitFor(t, "the child's pid", func() bool {
			for _, l := range td.rec.linesOf(id) {
				if n, ok := strings.CutPrefix(l.Text, "child "); ok {
					child, _ = strconv.Atoi(n)
				}
			}
			return child > 0
		})
		child = hostPID(t, st.PID, child)
		if pids := td.cgroups.instance(id).pids(); !slices.Contains(pids, child) {
			t.Fatalf("start %d: the child %d is not in its instance's cgroups (they hold %v)", i, child, pids)
		}
		td.stop(t, id, time.Second)
	}
}

// An instance that allocates past memory_mb is killed by the kernel, and
// its crash says so.
func TestOutOfMemoryIsReported(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{Initial: 50 * time.Millisecond})
	spec := td.spec("oom-1", `exec awk 'BEGIN { s = "x"; while (1) s = s s }'`)
	spec.MemoryMB = 32
	td.start(t, spec)
	var last InstanceStatus
	waitFor(t, "an out-of-memory crash", func() bool {
		last, _ = td.Status("oom-1")
		return last.Crashes > 0 && last.LastExit == "out of memory (limit 32 MiB): signal: killed"
	})
	td.stop(t, "oom-1", time.Second)
}

// A fork bomb stops at the pids limit, inside its instance.
func TestForkBombStaysInItsInstance(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	if !td.cgroups.pids {
		t.Fatal("the host has no pids controller")
	}
	td.start(t, td.spec("bomb-1", `while :; do sleep 60 & done`))
	cg := td.cgroups.instance("bomb-1")
	pidsDir := cg.dirs[len(cg.dirs)-1]
	refused := func() int { // forks the kernel refused at the limit
		b, _ := os.ReadFile(filepath.Join(pidsDir, "pids.events"))
		n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(b), "max")))
		return n
	}
	waitFor(t, "the bomb to hit its limit", func() bool { return refused() > 0 })
	if n := len(cg.pids()); n > DefaultPidsLimit {
		t.Errorf("the fork bomb has %d processes, over the limit of %d", n, DefaultPidsLimit)
	}
	// The cell itself can still fork.
	if out, err := exec.Command("true").CombinedOutput(); err != nil {
		t.Fatalf("the cell cannot start a process while the bomb runs: %v %s", err, out)
	}
	td.stop(t, "bomb-1", time.Second)
}

// A build or pipeline task (a sandbox.Jail job) gets the instances' pids
// limit in cgroups of its own: a fork bomb in it is refused at the limit,
// the job itself carries on, and its cgroups go with it.
func TestJobLimitsHoldAForkBomb(t *testing.T) {
	td := newTestDriver(t, BackoffPolicy{})
	if !td.cgroups.pids {
		t.Fatal("the host has no pids controller")
	}
	jail := &sandbox.Jail{Isolate: true, HomesDir: t.TempDir(), Limits: td.JobLimits,
		SpaceUID: func(context.Context, string) (int, error) { return testUID, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, err := jail.Command(ctx, sandbox.Job{Space: "dev", Dir: "/",
		Script: `(for i in $(seq 1500); do sleep 5 & done) 2>/dev/null; echo "bomb=$?"; echo survived`})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the job: %v\n%s", err, stderr.String())
	}
	// Without the limit the bomb's shell starts all 1500 and ends well.
	if out := stdout.String(); !strings.Contains(out, "survived") || strings.Contains(out, "bomb=0") {
		t.Fatalf("want the bomb's forks refused at the limit and the job carrying on; stdout %q, stderr %.300q", out, stderr.String())
	}
	var left []string
	for _, dir := range td.cgroups.dirs {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), "job-") {
				left = append(left, e.Name())
			}
		}
	}
	if len(left) > 0 {
		t.Errorf("job cgroups left after the job: %v", left)
	}
}

func TestCgroupProbeOnNonCgroupFS(t *testing.T) {
	m, reason := probeCgroups(t.TempDir(), "cell")
	if m != nil || !strings.Contains(reason, "no cgroup v2 hierarchy is mounted") {
		t.Errorf("probe of a plain dir: %v %q", m, reason)
	}
}

// TestCgroupSetupOnFakeTree runs the cgroup file handling against a fake
// hierarchy, since this machine may not have cgroup v2.
func TestCgroupSetupOnFakeTree(t *testing.T) {
	root := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(rel string) string {
		b, _ := os.ReadFile(filepath.Join(root, rel))
		return string(b)
	}

	write("cgroup.controllers", "cpu io pids\n")
	write("cgroup.subtree_control", "")
	if m, reason := setupCgroups(root, "c1"); m != nil || !strings.Contains(reason, "memory controller is not available") {
		t.Errorf("without memory: %v %q", m, reason)
	}

	write("cgroup.controllers", "cpu io memory\n")
	write("paved-c1/cgroup.subtree_control", "") // the kernel creates these files on mkdir
	m, reason := setupCgroups(root, "c1")
	if m == nil {
		t.Fatalf("setup failed: %s", reason)
	}
	if read("cgroup.subtree_control") != "+memory" || read("paved-c1/cgroup.subtree_control") != "+memory" {
		t.Errorf("memory not delegated: %q %q", read("cgroup.subtree_control"), read("paved-c1/cgroup.subtree_control"))
	}
	write("paved-c1/inst-1/memory.max", "max")
	if _, err := m.create("inst-1", 128, 0); err != nil {
		t.Fatal(err)
	}
	if got := read("paved-c1/inst-1/memory.max"); got != strconv.Itoa(128<<20) {
		t.Errorf("memory.max = %q", got)
	}
	write("paved-c1/inst-1/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
	if n := (&instanceCgroup{dirs: []string{filepath.Join(root, "paved-c1/inst-1")}}).oomKills(); n != 2 {
		t.Errorf("oomKills = %d", n)
	}
}

// TestCgroupV1SetupOnFakeTree: on cgroup v1 the cell's groups nest in the
// groups it is in, one per controller, and limits go to v1's files.
func TestCgroupV1SetupOnFakeTree(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"memory/outer", "pids"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "pids", "cgroup.procs"), nil, 0o644)
	own := "9:name=systemd:/\n8:pids:/\n4:memory:/outer\n0::/\n"
	m, reason := setupCgroupsV1(root, own, "c1")
	if m == nil {
		t.Fatalf("setup failed: %s", reason)
	}
	if want := []string{filepath.Join(root, "memory/outer/paved-c1"), filepath.Join(root, "pids/paved-c1")}; !slices.Equal(m.dirs, want) || !m.pids || m.version() != "cgroup v1" {
		t.Fatalf("groups %v pids %v %s, want %v", m.dirs, m.pids, m.version(), want)
	}
	for _, f := range []string{"memory/outer/paved-c1/i1/memory.limit_in_bytes", "memory/outer/paved-c1/i1/memory.memsw.limit_in_bytes", "pids/paved-c1/i1/pids.max"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755)
		os.WriteFile(filepath.Join(root, f), nil, 0o644)
	}
	c, err := m.create("i1", 64, 100)
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{
		"memory/outer/paved-c1/i1/memory.limit_in_bytes":       strconv.Itoa(64 << 20),
		"memory/outer/paved-c1/i1/memory.memsw.limit_in_bytes": strconv.Itoa(64 << 20),
		"pids/paved-c1/i1/pids.max":                            "100",
	} {
		if b, _ := os.ReadFile(filepath.Join(root, f)); string(b) != want {
			t.Errorf("%s = %q, want %q", f, b, want)
		}
	}
	os.WriteFile(filepath.Join(c.dirs[0], "memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 0o644)
	if n := c.oomKills(); n != 3 {
		t.Errorf("oomKills = %d, want 3", n)
	}
	if _, reason := setupCgroupsV1(root, "8:pids:/\n", "c1"); !strings.Contains(reason, "memory controller is not available") {
		t.Errorf("without a memory hierarchy: %q", reason)
	}
}

func TestBackoffPolicy(t *testing.T) {
	b := BackoffPolicy{}.withDefaults()
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := b.delay(i + 1); got != w {
			t.Errorf("delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := b.delay(100); got != 30*time.Second {
		t.Errorf("delay(100) = %v, want the 30s cap", got)
	}
	if b.ResetAfter != 30*time.Second {
		t.Errorf("ResetAfter default %v", b.ResetAfter)
	}
}

func TestHasAllEnv(t *testing.T) {
	env := []byte("A=1\x00PAVED_CELL=abc\x00B=2")
	cases := map[string]bool{"PAVED_CELL=abc": true, "B=2": true, "PAVED_CELL=ab": false, "PAVED_CELL=abcd": false, "ELL=abc": false}
	for entry, want := range cases {
		if got := hasAllEnv(env, []string{entry}); got != want {
			t.Errorf("hasAllEnv(%q) = %v", entry, got)
		}
	}
}
