package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/cli"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// The break-out tests of issue 17: a hostile tenant (testdata/snoop/snoop.sh)
// runs as an app instance, as a build command and as a pipeline task, and
// looks for the cell's secrets and another space's in every file and
// process it can reach, writes where it should not and kills what it can.
// An isolated cell lets it find, write and kill nothing; the control
// (TestSnoopFindsSecretsWithoutIsolation) shows the snoop does find them
// when nothing stops it.

const (
	snoopSpace  = "snoop"
	victimSpace = "other"
	victimHost  = "victim.test"
	// firstSpaceUID is the bottom of the cell's default uid range
	// (cell.DefaultUIDBase).
	firstSpaceUID = 200000
	// snoopSkip is the test machine's own tooling: no business of the
	// product nor of its tenants, and left alone.
	snoopSkip = "/mnt/sandboxing"
)

// tenants is a cell with a victim app in another space, and the secrets a
// snoop must not find.
type tenants struct {
	c             *cell
	envSecret     string // PAVED_TOKEN in the cell's environment
	victimSecret  string // the victim's secret_env
	victimPID     int
	victimDroplet string // the victim's droplet dir
	mark          string // SNOOP_MARK
	// decoy is a needle the tenant is meant to find (SNOOP_DECOY), in
	// decoyFile and in a process the snoop starts: isolated cells only.
	decoy, decoyFile string
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dataOutsideTmp points this test's temp dirs, and so the cell's data dir,
// at a new world-traversable directory under /var/lib, where an operator's
// would be: under /tmp a sandbox's private /tmp alone would hide the data
// dir, and a 0700 parent would hide it too, so neither would show whether
// the cell covers the data dir itself. It returns that directory.
func dataOutsideTmp(t *testing.T) string {
	base, err := os.MkdirTemp("/var/lib", "paved-e2e-snoop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", base)
	first := t.TempDir() // makes the test's own temp dir, 0700
	if err := os.Chmod(filepath.Dir(first), 0o755); err != nil {
		t.Fatal(err)
	}
	return base
}

// newTenants starts a cell (isolated unless extra says otherwise) with
// PAVED_TOKEN in its environment, checks what it says of its isolation,
// and runs a victim app with a secret in space other.
func newTenants(t *testing.T, isolated bool, extra ...string) *tenants {
	t.Helper()
	if isolated && os.Geteuid() != 0 {
		t.Fatal("isolating tenants needs a cell running as root, as make test runs it")
	}
	if isolated {
		// Whatever the pass (make e2e-none sets --isolation none for every
		// cell), these cells must isolate; a later flag wins.
		extra = append(extra, "--isolation", "required")
	}
	tn := &tenants{envSecret: "cell-env-credential-" + randomHex(),
		victimSecret: "victim-secret-" + randomHex(), mark: randomHex()}
	if isolated {
		// Next to the data dir, readable by anyone: the tenant must find it.
		tn.decoy = "decoy-" + randomHex()
		tn.decoyFile = filepath.Join(dataOutsideTmp(t), "decoy")
		if err := os.WriteFile(tn.decoyFile, []byte("the decoy: "+tn.decoy+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
			os.Remove(filepath.Join(d, "paved-snoop-"+tn.mark))
		}
	})
	t.Setenv("PAVED_TOKEN", tn.envSecret) // the cell inherits it, as a real one would
	tn.c = startCell(t, extra...)
	c := tn.c
	ctx := context.Background()
	h, err := c.client.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	iso := h.Isolation
	t.Logf("isolation: %+v", iso)
	if isolated && (!iso.Enabled || !iso.UID || !iso.PIDNamespace || !iso.MountNamespace) {
		t.Fatalf("an isolated cell as root reports %+v", iso)
	}
	if !isolated && iso.Enabled {
		t.Fatalf("a cell with %v reports isolation %+v", extra, iso)
	}

	c.pushHello(victimSpace, "victim", victimHost, 1)
	ents, err := os.ReadDir(filepath.Join(c.data, "droplets"))
	var droplets []string
	for _, e := range ents {
		if e.IsDir() {
			droplets = append(droplets, e.Name())
		}
	}
	if err != nil || len(droplets) != 1 {
		t.Fatalf("droplets after the victim's push: %v %v", droplets, err)
	}
	tn.victimDroplet = filepath.Join(c.data, "droplets", droplets[0])
	a, err := c.client.Apps.Get(ctx, victimSpace, "victim")
	if err != nil {
		t.Fatal(err)
	}
	spec := a.AppSpec
	spec.SecretEnv = map[string]string{"API_KEY": tn.victimSecret}
	if _, err := c.client.Apps.Update(ctx, victimSpace, spec); err != nil {
		t.Fatal(err)
	}
	if a, err = c.client.Apps.Wait(ctx, victimSpace, "victim", nil); err != nil || a.Status != paved.AppRunning {
		t.Fatalf("the victim with its secret: %v %+v", err, a)
	}
	tn.victimPID = victimPID(t, c)
	c.paved("space", "create", snoopSpace)
	return tn
}

// victimPID is the pid of the victim's one running instance.
func victimPID(t *testing.T, c *cell) int {
	t.Helper()
	var pids []int
	for _, in := range c.appShow(victimSpace, "victim").Instances {
		if in.PID > 0 && in.State == "running" {
			pids = append(pids, in.PID)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("the victim's running instances: %v", pids)
	}
	return pids[0]
}

func (tn *tenants) needles() []string {
	return []string{tn.c.token, tn.victimSecret, tn.envSecret}
}

// vars is the snoop's environment.
func (tn *tenants) vars() map[string]string {
	return map[string]string{
		"NEEDLES":          strings.Join(tn.needles(), "|"),
		"KILL_PIDS":        fmt.Sprintf("%d %d", tn.c.cmd.Process.Pid, tn.victimPID),
		"SNOOP_DIRS":       tn.c.data,
		"SNOOP_VICTIM_DIR": tn.victimDroplet,
		"SNOOP_SKIP":       snoopSkip,
		"SNOOP_MARK":       tn.mark,
		"SNOOP_DECOY":      tn.decoy, // "": no decoy
	}
}

func envFlags(vars map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, "--env", k+"="+vars[k])
	}
	return out
}

func snoopScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "snoop", "snoop.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// snoopSource is the hello app with snoop.sh next to it.
func snoopSource(t *testing.T) string {
	t.Helper()
	dir := helloDir(t)
	if err := os.WriteFile(filepath.Join(dir, "snoop.sh"), []byte(snoopScript(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pushSnoopApp pushes the snoop as an app whose instance runs it first.
func (tn *tenants) pushSnoopApp(t *testing.T, vars map[string]string) {
	t.Helper()
	args := append([]string{"push", snoopSource(t), "--space", snoopSpace, "--app", "snoop",
		"--build", "go build -o hello .", "--command", "sh snoop.sh; exec ./hello",
		"--health-type", "process", "--timeout", "2m"}, envFlags(vars)...)
	tn.c.mustPaved(args...)
}

// appSnoopLog follows the snoop app's log until the snoop is done.
func (tn *tenants) appSnoopLog(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var lines []string
	errDone := errors.New("done")
	err := tn.c.client.Logs.Stream(ctx, snoopSpace, "snoop", paved.LogsOptions{Tail: 2000, Follow: true}, func(l paved.LogLine) error {
		lines = append(lines, l.Text)
		if strings.HasSuffix(strings.TrimSpace(l.Text), "SNOOP done") {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("the snoop app's log has no \"SNOOP done\" (%v):\n%s", err, strings.Join(lines, "\n"))
	}
	return strings.Join(lines, "\n")
}

// snoopReport is what a snoop printed.
type snoopReport struct {
	text                           string
	done, asRoot                   bool
	needles, uid, decoyPID         int
	cwd, home, tmpdir              string
	found, writes, kills, timeouts []string
}

func parseSnoop(text string) snoopReport {
	r := snoopReport{text: text, needles: -1, uid: -1}
	for _, line := range strings.Split(text, "\n") {
		i := strings.Index(line, "SNOOP ")
		if i < 0 {
			continue
		}
		rest := strings.TrimSpace(line[i+len("SNOOP "):])
		word, arg, _ := strings.Cut(rest, " ")
		switch word {
		case "done":
			r.done = true
		case "needles":
			r.needles, _ = strconv.Atoi(arg)
		case "uid":
			r.uid, _ = strconv.Atoi(strings.Fields(arg + " x")[0])
		case "decoy-pid":
			r.decoyPID, _ = strconv.Atoi(arg)
		case "cwd":
			r.cwd = arg
		case "home":
			r.home = arg
		case "tmpdir":
			r.tmpdir = arg
		case "found":
			r.found = append(r.found, arg)
		case "write-ok":
			r.writes = append(r.writes, arg)
		case "kill-ok":
			r.kills = append(r.kills, arg)
		case "search-timeout":
			r.timeouts = append(r.timeouts, arg)
		case "as-root:":
			r.asRoot = true
		}
	}
	return r
}

// summary is the report's SNOOP lines that matter, for the test log.
func (r snoopReport) summary() string {
	var b strings.Builder
	for _, line := range strings.Split(r.text, "\n") {
		if i := strings.Index(line, "SNOOP "); i >= 0 {
			b.WriteString(line[i:] + "\n")
		}
	}
	return b.String()
}

// assertContained fails on everything the snoop got away with. workDirs
// are the directories the job is meant to write (a build's source dir, a
// task's build dir) besides its HOME and TMPDIR.
func (tn *tenants) assertContained(t *testing.T, r snoopReport, workDirs ...string) {
	t.Helper()
	t.Logf("the snoop reported:\n%s", r.summary())
	if !r.done {
		t.Fatalf("the snoop did not finish:\n%s", r.text)
	}
	if r.needles != len(tn.needles()) {
		t.Fatalf("the snoop looked for %d needles, want %d:\n%s", r.needles, len(tn.needles()), r.text)
	}
	if r.asRoot || r.uid < firstSpaceUID {
		t.Errorf("the tenant ran as uid %d, not as an unprivileged uid of its space", r.uid)
	}
	// The decoys show the searches worked where the tenant runs.
	decoys := map[string]bool{tn.decoyFile: false, fmt.Sprintf("/proc/%d/environ", r.decoyPID): false}
	for _, f := range r.found {
		if _, ok := decoys[f]; ok {
			decoys[f] = true
			continue
		}
		t.Errorf("LEAK: the tenant found a secret in %s", f)
	}
	for f, ok := range decoys {
		if !ok {
			t.Errorf("the snoop did not find the decoy in %s: its searches do not work in the sandbox, and prove nothing", f)
		}
	}
	for _, k := range r.kills {
		t.Errorf("the tenant could kill -9 pid %s", k)
	}
	for _, d := range r.timeouts {
		t.Errorf("the search of %s was cut short: the test proves nothing there", d)
	}
	allowed := map[string]bool{}
	for _, d := range append([]string{r.home, r.tmpdir}, workDirs...) {
		if d != "" {
			allowed[d] = true
		}
	}
	for _, w := range r.writes {
		switch {
		case allowed[w]:
		case w == "/tmp" || w == "/var/tmp" || w == "/dev/shm":
			// Fine if it is the sandbox's own: the file it left there
			// must not be on the host.
			if _, err := os.Stat(filepath.Join(w, "paved-snoop-"+tn.mark)); err == nil {
				t.Errorf("the tenant's %s is the host's: it left a file there", w)
			}
		default:
			t.Errorf("the tenant could create a file in %s", w)
		}
	}
}

// assertUnharmed checks the cell and the victim still run and serve, the
// victim with the very process it had.
func (tn *tenants) assertUnharmed(t *testing.T) {
	t.Helper()
	c := tn.c
	if !processAlive(c.cmd.Process.Pid) {
		t.Fatalf("the cell's process %d is gone", c.cmd.Process.Pid)
	}
	if _, err := c.client.Health(context.Background()); err != nil {
		t.Fatalf("the cell does not answer: %v", err)
	}
	if !processAlive(tn.victimPID) {
		t.Errorf("the victim's process %d is gone", tn.victimPID)
	}
	if pid := victimPID(t, c); pid != tn.victimPID {
		t.Errorf("the victim's instance is now pid %d, was %d", pid, tn.victimPID)
	}
	resp, body, err := c.get(httpClient(), victimHost, "/")
	if err != nil || resp.StatusCode != 200 || !strings.Contains(body, "hello") {
		t.Errorf("the victim through the router: %v %q %v", resp, body, err)
	}
}

// TestTenantIsolationApp: a tenant's app instance finds none of the cell's
// secrets nor the other space's, writes only its own scratch dir (and its
// private /tmp), and kills nothing.
func TestTenantIsolationApp(t *testing.T) {
	start := time.Now()
	tn := newTenants(t, true)
	t.Logf("cell and victim ready in %s", time.Since(start).Round(time.Millisecond))
	tn.pushSnoopApp(t, tn.vars())
	r := parseSnoop(tn.appSnoopLog(t))
	t.Logf("snoop app done %s after the start", time.Since(start).Round(time.Millisecond))
	tn.assertContained(t, r) // its droplet, its cwd, is read-only
	tn.assertUnharmed(t)
}

// TestTenantIsolationBuild: the same snoop as a build command.
func TestTenantIsolationBuild(t *testing.T) {
	start := time.Now()
	tn := newTenants(t, true)
	t.Logf("cell and victim ready in %s", time.Since(start).Round(time.Millisecond))
	c := tn.c
	args := append([]string{"push", snoopSource(t), "--space", snoopSpace, "--app", "snoop",
		"--build", "sh snoop.sh; go build -o hello .", "--command", "./hello",
		"--health-path", "/healthz", "--timeout", "4m"}, envFlags(tn.vars())...)
	c.mustPaved(args...)
	ctx := context.Background()
	builds, err := c.client.Builds.List(ctx, snoopSpace, "snoop")
	if err != nil || len(builds) == 0 {
		t.Fatalf("builds: %v %v", builds, err)
	}
	var log string
	for _, b := range builds {
		l, err := c.client.Builds.Log(ctx, snoopSpace, "snoop", b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(l, "SNOOP done") {
			log = l
		}
	}
	if log == "" {
		t.Fatalf("no build log with the snoop's report in %d builds", len(builds))
	}
	t.Logf("snoop build done %s after the start", time.Since(start).Round(time.Millisecond))
	r := parseSnoop(log)
	if !strings.HasPrefix(r.cwd, filepath.Join(c.data, "builds")+"/") {
		t.Errorf("the build ran in %s, not in a build dir of the cell", r.cwd)
	}
	tn.assertContained(t, r, r.cwd) // a build writes its source dir
	tn.assertUnharmed(t)
}

// TestTenantIsolationPipelineTask: the same snoop as a pipeline task of
// space snoop, from a git repository.
func TestTenantIsolationPipelineTask(t *testing.T) {
	start := time.Now()
	tn := newTenants(t, true)
	t.Logf("cell and victim ready in %s", time.Since(start).Round(time.Millisecond))
	c := tn.c
	repo := newGitRepo(t)
	sha := repo.commit("snoop", "snoop.sh", snoopScript(t))
	// Set through the library, not from a YAML file: the needles are in
	// the task's env and must not lie in a file the tenant could read.
	spec, err := cli.ParsePipeline([]byte(fmt.Sprintf(`name: snoop
sources:
  - {name: repo, type: git, uri: %s, branch: main, check_every: 1h}
jobs:
  - name: snoop
    plan:
      - {get: repo, trigger: true}
      - {task: snoop, dir: repo, run: sh snoop.sh}
`, repo.dir)))
	if err != nil {
		t.Fatal(err)
	}
	spec.Jobs[0].Plan[1].Env = tn.vars()
	ctx := context.Background()
	if _, err := c.client.Pipelines.Set(ctx, snoopSpace, spec); err != nil {
		t.Fatal(err)
	}
	b := c.buildOfIn(t, snoopSpace, "snoop", "snoop", sha, 3*time.Minute)
	log, err := c.client.Pipelines.BuildLog(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != paved.BuildSucceeded {
		t.Errorf("the snoop's build: %s %s\n%s", b.Status, b.Reason, log)
	}
	t.Logf("snoop task done %s after the start", time.Since(start).Round(time.Millisecond))
	r := parseSnoop(log)
	buildDir := filepath.Dir(r.cwd) // the task runs in dir repo of its build dir
	if !strings.HasPrefix(buildDir, filepath.Join(c.data, "pipelines")+"/") || filepath.Base(r.cwd) != "repo" {
		t.Errorf("the task ran in %s, not in the repo of a build dir of the cell", r.cwd)
	}
	tn.assertContained(t, r, r.cwd, buildDir) // a task writes its build dir
	tn.assertUnharmed(t)
}

// TestSnoopFindsSecretsWithoutIsolation is the control: without isolation
// the same snoop finds the admin token in the cell's command line (the
// harness passes --token) and the victim's secret in its environment.
// Were it to find nothing here, the snoop would be broken, and the tests
// above would prove nothing. Reads only the cell's data dir and the two
// processes, and as root neither writes nor kills.
func TestSnoopFindsSecretsWithoutIsolation(t *testing.T) {
	start := time.Now()
	tn := newTenants(t, false, "--isolation", "none")
	cellPID := tn.c.cmd.Process.Pid
	vars := tn.vars()
	vars["SNOOP_SCAN"] = "dirs"
	vars["SNOOP_PIDS"] = fmt.Sprintf("%d %d", cellPID, tn.victimPID)
	tn.pushSnoopApp(t, vars)
	r := parseSnoop(tn.appSnoopLog(t))
	t.Logf("snoop app done %s after the start; it reported:\n%s", time.Since(start).Round(time.Millisecond), r.summary())
	if !r.done || r.needles != 3 {
		t.Fatalf("the snoop did not run through:\n%s", r.text)
	}
	for _, want := range []string{fmt.Sprintf("/proc/%d/cmdline", cellPID), fmt.Sprintf("/proc/%d/environ", tn.victimPID)} {
		if !slices.Contains(r.found, want) {
			t.Errorf("without isolation the snoop does not find the secret in %s: the snoop is broken", want)
		}
	}
}
