package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run real sandboxes: this test binary is the init (the package's
// init function takes over when it sees the marker). They need root, which
// make test has; a run without it fails, since isolation is what they test.

const testUID = 200_777

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("the sandbox tests start commands as other users and need root (euid %d)", os.Geteuid())
	}
}

// run runs script with /bin/sh in a sandbox made of cfg and returns its
// output and error.
func run(t *testing.T, cfg Config, script string) (string, error) {
	t.Helper()
	requireRoot(t)
	if cfg.UID == 0 {
		cfg.UID, cfg.GID = testUID, testUID
	}
	if cfg.Dir == "" {
		cfg.Dir = "/"
	}
	cfg.Argv = []string{"/bin/sh", "-c", script}
	if cfg.Env == nil {
		cfg.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, err := Command(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func mustRun(t *testing.T, cfg Config, script string) string {
	t.Helper()
	out, err := run(t, cfg, script)
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return out
}

func TestRunsAsItsUnprivilegedUser(t *testing.T) {
	out := mustRun(t, Config{}, "id -u; id -g; id -G")
	if want := "200777\n200777\n200777\n"; out != want {
		t.Fatalf("id: %q, want uid, gid and groups all %d and nothing else", out, testUID)
	}
}

func TestNoCapabilitiesAndNoNewPrivs(t *testing.T) {
	out := mustRun(t, Config{}, "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status")
	for _, want := range []string{"CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

func TestSeesOnlyItsOwnProcesses(t *testing.T) {
	out := mustRun(t, Config{}, "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -E '^[0-9]+$' | wc -l")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], initArg) {
		t.Fatalf("PID 1 is not the sandbox's init: %q", out)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(lines[1])); n == 0 || n > 6 {
		t.Fatalf("the sandbox sees %s processes in /proc, want only its own few", lines[1])
	}
	// And the host's are not there by any number: the test's own pid.
	if out, err := run(t, Config{}, "test -e /proc/"+strconv.Itoa(os.Getpid())+"/environ && cat /proc/"+strconv.Itoa(os.Getpid())+"/environ"); err == nil && strings.Contains(out, "PATH=") {
		t.Fatalf("the sandbox reads the host's process %d: %q", os.Getpid(), out)
	}
}

func TestHiddenPathsAndPrivateTmp(t *testing.T) {
	requireRoot(t)
	// Outside /tmp (which the sandbox replaces whole) and readable by
	// anyone on the host: only the covers keep the secrets out.
	data, err := os.MkdirTemp("/var/lib", "paved-sandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	os.Chmod(data, 0o755)
	secretDir := filepath.Join(data, "secrets")
	os.Mkdir(secretDir, 0o755)
	os.WriteFile(filepath.Join(secretDir, "token"), []byte("s3cr3t-dir"), 0o644)
	secretFile := filepath.Join(data, "admin.token")
	os.WriteFile(secretFile, []byte("s3cr3t-file"), 0o644)
	app := filepath.Join(secretDir, "droplet") // kept, though under a hidden dir
	os.Mkdir(app, 0o755)
	os.WriteFile(filepath.Join(app, "run.sh"), []byte("echo from-droplet\n"), 0o755)
	hostTmp := filepath.Join(os.TempDir(), "paved-sandbox-test-"+strconv.Itoa(os.Getpid()))
	os.WriteFile(hostTmp, []byte("host tmp"), 0o644)
	defer os.Remove(hostTmp)

	cfg := Config{Dir: app, Hide: []string{secretDir, secretFile}, Keep: []Mount{{Path: app}}}
	out := mustRun(t, cfg, `
		cat token admin.token ../token 2>/dev/null
		cat `+secretFile+` `+filepath.Join(secretDir, "token")+` 2>/dev/null
		ls `+secretDir+`
		./run.sh
		test -e `+hostTmp+` && echo host-tmp-visible
		echo inside > /tmp/x && echo tmp-writable
		touch ./new 2>/dev/null && echo droplet-writable
		true`)
	for _, leak := range []string{"s3cr3t", "host-tmp-visible", "droplet-writable"} {
		if strings.Contains(out, leak) {
			t.Errorf("the sandbox saw %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{"droplet\n", "from-droplet", "tmp-writable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(os.TempDir(), "x")); err == nil {
		if b, _ := os.ReadFile(filepath.Join(os.TempDir(), "x")); string(b) == "inside\n" {
			t.Error("the sandbox's /tmp/x landed in the host's /tmp")
		}
	}
}

func TestWritableKeptPath(t *testing.T) {
	requireRoot(t)
	scratch := t.TempDir()
	os.Chown(scratch, testUID, testUID)
	mustRun(t, Config{Dir: scratch, Keep: []Mount{{Path: scratch, Writable: true}}}, "echo kept > out")
	if b, err := os.ReadFile(filepath.Join(scratch, "out")); err != nil || string(b) != "kept\n" {
		t.Fatalf("a write to the writable kept path: %q %v", b, err)
	}
}

func TestExitStatusIsTheCommands(t *testing.T) {
	for script, want := range map[string]string{"exit 7": "exit status 7", "kill -9 $$": "signal: killed"} {
		_, err := run(t, Config{}, script)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Status != want {
			t.Errorf("%s: error %v, want an ExitError %q", script, err, want)
		}
	}
}

// Nothing the command starts outlives it, not even a daemon that left its
// process group and session.
func TestNothingOutlivesTheCommand(t *testing.T) {
	marker := "paved-sandbox-orphan-" + strconv.Itoa(os.Getpid())
	mustRun(t, Config{}, "setsid sh -c 'exec -a "+marker+" sleep 300' </dev/null >/dev/null 2>&1 & sleep 0.2; exit 0")
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := processesNamed(marker)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
			t.Fatalf("processes %v started in the sandbox outlived it", pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func processesNamed(name string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(string(b), name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// SIGTERM to the sandbox reaches the command, which may exit gracefully.
func TestSignalsReachTheCommand(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, err := Command(ctx, Config{UID: testUID, GID: testUID, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"},
		Argv: []string{"/bin/sh", "-c", "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done"}})
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), "ready") {
		if ctx.Err() != nil {
			t.Fatal("the command never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // as the runtime stops an instance
	err = cmd.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status != "exit status 3" || !strings.Contains(out.String(), "got-term") {
		t.Fatalf("after SIGTERM: %v, output %q; want the trap to run and exit 3", err, out.String())
	}
}

func TestProbe(t *testing.T) {
	requireRoot(t)
	if err := Probe(context.Background()); err != nil {
		t.Fatalf("Probe on a host that runs sandboxes: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{UID: 0, GID: 5, Argv: []string{"x"}},
		{UID: 5, GID: 0, Argv: []string{"x"}},
		{UID: 5, GID: 5},
		{UID: 5, GID: 5, Argv: []string{"x"}, Hide: []string{"relative"}},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A jailed job runs as its space's uid with a home of its own, writes its
// work dir, reads the cell's Go cache through an overlay and cannot write
// into it; its environment is the allow-list, not the cell's.
func TestJailJob(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	lower := filepath.Join(root, "gocache")
	os.MkdirAll(filepath.Join(lower, "ab"), 0o755)
	os.WriteFile(filepath.Join(lower, "ab", "entry-d"), []byte("cached"), 0o644)
	work := filepath.Join(root, "work")
	os.Mkdir(work, 0o755)
	t.Setenv("PAVED_TOKEN", "cell-token-must-not-leak")
	t.Setenv("SHELL", "/bin/operator-shell")
	j := &Jail{Isolate: true, HomesDir: filepath.Join(root, "homes"), GoCache: lower, Hide: []string{root + "/nothing"},
		SpaceUID: func(context.Context, string) (int, error) { return testUID, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, err := j.Command(ctx, Job{Space: "dev", Dir: work, Writable: []string{work}, Env: []string{"PAVED_CELL=c1", "MINE=1"},
		Script: `id -u; echo "home=$HOME"; env | sort > env.txt; cat "$GOCACHE/ab/entry-d"; echo new > "$GOCACHE/ab/new-d" && echo cache-add-ok; (echo x >> "$GOCACHE/ab/entry-d") 2>/dev/null && echo cache-overwrote; true`})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	got := out.String()
	for _, want := range []string{"200777\n", "home=" + filepath.Join(root, "homes", "200777"), "cached", "cache-add-ok"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "cache-overwrote") {
		t.Errorf("the job overwrote an entry of the cell's cache:\n%s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(lower, "ab", "entry-d")); string(b) != "cached" {
		t.Errorf("the cell's cache entry changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(lower, "ab", "new-d")); err == nil {
		t.Error("the job's cache entry landed in the cell's cache")
	}
	if b, err := os.ReadFile(filepath.Join(root, "homes", "200777.gocache", "space", "ab", "new-d")); err != nil || string(b) != "new\n" {
		t.Errorf("the job's cache entry is not in its space's cache: %q %v", b, err)
	}

	// Jobs of one space at once each get their own upper layer, and the next
	// job sees what both added.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			cmd, err := j.Command(ctx, Job{Space: "dev", Dir: work, Script: fmt.Sprintf(`cat "$GOCACHE/ab/new-d" >/dev/null && echo %d > "$GOCACHE/ab/par-%d-d"`, i, i)})
			if err != nil {
				t.Error(err)
				return
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("concurrent job %d: %v %s", i, err, out)
			}
		})
	}
	wg.Wait()
	cmd, err = j.Command(ctx, Job{Space: "dev", Dir: work, Script: `cat "$GOCACHE"/ab/par-*-d | sort | tr -d '\n'`})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.Output(); err != nil || string(out) != "012" {
		t.Errorf("after concurrent jobs the cache has %q (%v), want all three entries", out, err)
	}
	if jobs, _ := os.ReadDir(filepath.Join(root, "homes", "200777.gocache", "jobs")); len(jobs) != 0 {
		t.Errorf("job layers left behind: %v", jobs)
	}
	env, _ := os.ReadFile(filepath.Join(work, "env.txt"))
	if strings.Contains(string(env), "cell-token") || strings.Contains(string(env), "operator-shell") || !strings.Contains(string(env), "MINE=1") {
		t.Errorf("the job's environment:\n%s", env)
	}
}
