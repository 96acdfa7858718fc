package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/donationload"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// chaosDuration bounds the chaos phase unless PAVED_CHAOS_DURATION says otherwise.
const chaosDuration = 50 * time.Second

// TestChaos runs three cells (regions eu, us and ap) with a donations
// replica set across all three, a rolling hello app in eu and us, and a
// pipeline in ap that tests every commit of a real git repo and deploys it
// to an app. For a bounded time it randomly kills app instances (-9) and
// whole cells (-9, restarted on the same data dir and ports a few seconds
// later; sometimes two at once, never all three; sometimes again while it
// starts or recovers), rolls out new releases and pushes commits, often killing the
// cell while a rollout or a build is in flight, while donors post
// donations to every region's router. Then, with every cell back, it
// checks the invariants:
//
//   - declared state converged: every app settled, running the release
//     of its newest acknowledged spec, healthy at its declared instance
//     count, no deployment left running;
//   - no orphaned process: the only processes carrying a cell's
//     PAVED_CELL marker are the instances the API reports, one process
//     group each, and the processes of a killed run are gone right after
//     the restart;
//   - no lost release: every release seen before a kill is still listed
//     with the same configuration, numbers have no gaps, and each has its
//     release.create event;
//   - no lost event: every event seen before a kill is still there,
//     unchanged, in order;
//   - no lost or doubled donation: every acknowledged donation counted
//     exactly once in every region's merged view, none given up on;
//   - pipeline builds: none lost, none left pending or running (a build a
//     kill interrupted ends errored), and a commit pushed after the chaos
//     is tested and deployed successfully.
//
// Every cell's log must be free of panics. The run is random:
// PAVED_CHAOS_SEED=N replays the sequence of choices of a run (the seed is
// in the subtest's name; timing still varies), PAVED_CHAOS_DURATION=90s
// changes the length of the chaos phase.
func TestChaos(t *testing.T) {
	seed := time.Now().UnixNano() % 1_000_000_000
	if s := os.Getenv("PAVED_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("PAVED_CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	d := chaosDuration
	if s := os.Getenv("PAVED_CHAOS_DURATION"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			t.Fatalf("PAVED_CHAOS_DURATION=%q: want a positive Go duration (%v)", s, err)
		}
		d = v
	}
	t.Logf("chaos seed %d (rerun with PAVED_CHAOS_SEED=%d), chaos phase %s", seed, seed, d)
	t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
		x := newChaos(t, seed)
		x.setup()
		x.run(d)
		x.check()
	})
}

const (
	chaosDonationHost = "donations.chaos.test"
	chaosGenEnv       = "CHAOS_GEN"
)

// chaosCell is one region's cell and what the chaos did to it.
type chaosCell struct {
	*cell
	region string
	id     string    // the PAVED_CELL marker of its processes
	down   bool      // killed, not restarted yet
	upAt   time.Time // when a killed cell is restarted
	killAt time.Time // a kill scheduled by an action (zero: none)
	kills  int
	apps   int // how many apps it holds
	// killedProcs are its processes at the moment it was killed.
	killedProcs []chaosProc
	argv        []string // the command line that starts it
	// What had been seen of it before its last kill.
	riskEvents, riskReleases, riskBuilds int
}

// webUpdate is one change the test made to a web app's spec.
type webUpdate struct {
	gen       string // CHAOS_GEN; "" for the spec before any change
	instances int
	acked     bool // the API answered 200; false: unknown (the call failed)
}

type chaosApp struct {
	c           *chaosCell
	space, name string
	updates     []webUpdate
}

type chaos struct {
	t     *testing.T
	seed  int64
	rng   *rand.Rand
	start time.Time

	cells      []*chaosCell
	eu, us, ap *chaosCell
	webs       []*chaosApp
	repo       *gitRepo
	gen        int
	commits    int

	events    map[*chaosCell]map[int64]paved.Event
	lastEvent map[*chaosCell]int64
	releases  map[string]map[int]paved.Release // region/space/app → number → release
	builds    map[int64]paved.JobBuild
	actions   map[string]int
	busyKills int      // cell kills while a rollout or a build was in flight
	over      bool     // the chaos phase has ended
	escaped   []string // processes that outlived their cell's restart
	// apiErrs are the calls that failed on a cell that was up: kills are
	// made in the same loop as the calls, so none of these is a kill race.
	// What observe misses, the no-lost checks cannot compare against.
	apiErrs []string

	load chan chaosLoad
}

type chaosLoad struct {
	res *donationload.Result
	err error
}

func newChaos(t *testing.T, seed int64) *chaos {
	return &chaos{t: t, seed: seed, rng: rand.New(rand.NewSource(seed)), start: time.Now(),
		events: map[*chaosCell]map[int64]paved.Event{}, lastEvent: map[*chaosCell]int64{},
		releases: map[string]map[int]paved.Release{}, builds: map[int64]paved.JobBuild{}, actions: map[string]int{}}
}

func (x *chaos) logf(format string, args ...any) {
	x.t.Helper()
	x.t.Logf("[%6.1fs] %s", time.Since(x.start).Seconds(), fmt.Sprintf(format, args...))
}

// apiErr records (and logs) a call that failed on a cell that was up.
func (x *chaos) apiErr(c *chaosCell, format string, args ...any) {
	x.t.Helper()
	msg := fmt.Sprintf("%s: %s", c.region, fmt.Sprintf(format, args...))
	x.apiErrs = append(x.apiErrs, fmt.Sprintf("[%.1fs] %s", time.Since(x.start).Seconds(), msg))
	x.logf("%s", msg)
}

func chaosCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// setup starts the cells and deploys everything the chaos works on.
func (x *chaos) setup() {
	t := x.t
	for _, region := range []string{"eu", "us", "ap"} {
		c := &chaosCell{cell: startCell(t, "--region", region), region: region}
		c.argv = c.cmd.Args
		x.cells = append(x.cells, c)
		x.events[c] = map[int64]paved.Event{}
	}
	x.eu, x.us, x.ap = x.cells[0], x.cells[1], x.cells[2]

	// Donations: one instance per region, every router serving the global host.
	cfgs := map[string]paved.Config{}
	var routers []string
	for _, c := range x.cells {
		cfgs[c.region] = paved.Config{Endpoint: "http://" + c.api, Token: c.token, PollInterval: 100 * time.Millisecond}
		routers = append(routers, "http://"+c.router)
	}
	regions, err := paved.NewRegions(cfgs)
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := paved.Archive(filepath.Join(repoRoot(t), "examples", "donations", "app"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := regions.ReplicaSets.Apply(ctx, paved.ReplicaSetSpec{
		Name: "donations", Regions: []string{"eu", "us", "ap"}, MinHealthyRegions: 3, Space: "charity",
		GlobalHost: chaosDonationHost, Source: src, Rollout: paved.RolloutParallel,
		App: paved.AppSpec{Name: "donations", Build: "go build -o donations .", Command: "./donations", Instances: 1,
			HealthCheck: &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz", Interval: paved.Duration(500 * time.Millisecond)},
			Env:         map[string]string{"PEERS": strings.Join(routers, ","), "GLOBAL_HOST": chaosDonationHost}},
	}, nil); err != nil {
		t.Fatalf("deploy the donations replica set: %v", err)
	}
	client := httpClient()
	for _, r := range routers {
		eventually(t, 60*time.Second, r+" serves the donations app", func() error {
			_, err := donationload.Verify(context.Background(), client, r, chaosDonationHost, nil, nil)
			return err
		})
	}
	x.logf("donations replica set runs in eu, us and ap")

	// A rolling hello app in eu and us.
	strategy := paved.DeploymentSpec{Strategy: paved.StrategyRolling, MaxInFlight: "1", MinHealthyTime: paved.Duration(300 * time.Millisecond)}
	for _, c := range []*chaosCell{x.eu, x.us} {
		setupApp(t, c.cell, "web", "web."+c.region+".test", 3, strategy)
		x.webs = append(x.webs, &chaosApp{c: c, space: "demo", name: "web", updates: []webUpdate{{instances: 3, acked: true}}})
		c.apps = 2
	}

	// In ap, a pipeline tests each commit of a git repo and deploys it.
	x.repo = newGitRepo(t)
	x.ap.pushHello("demo", "piped", "piped.ap.test", 2)
	updateApp(t, x.ap.cell, "demo", "piped", fastHealth)
	updateApp(t, x.ap.cell, "demo", "piped", setStrategy(paved.DeploymentSpec{Strategy: paved.StrategyRolling, MaxInFlight: "1",
		MinHealthyTime: paved.Duration(time.Second)}))
	x.ap.apps = 2
	x.ap.setPipeline(t, fmt.Sprintf(`name: ci
sources:
  - name: repo
    type: git
    uri: %s
    branch: main
    check_every: 1s
jobs:
  - name: test
    plan:
      - get: repo
        trigger: true
      - task: unit
        dir: repo
        run: sleep 2 && test -f main.go
  - name: deploy
    serial: true
    plan:
      - get: repo
        trigger: true
        passed: [test]
      - deploy: piped
        from: repo
`, x.repo.dir))
	first := x.repo.git("rev-parse", "HEAD")
	if b := x.ap.buildOf(t, "ci", "deploy", first, 2*time.Minute); b.Status != paved.BuildSucceeded {
		t.Fatalf("the first deploy build: %s %s", b.Status, b.Reason)
	}

	// Each cell's marker, from one of its instances' environment.
	for _, c := range x.cells {
		a, err := c.client.Apps.Get(context.Background(), "charity", "donations")
		if err != nil || len(a.InstanceStates) == 0 {
			t.Fatalf("%s: donations instances: %v", c.region, err)
		}
		c.id = procEnv(a.InstanceStates[0].PID)["PAVED_CELL"]
		if c.id == "" {
			t.Fatalf("%s: the donations instance (pid %d) has no PAVED_CELL in its environment", c.region, a.InstanceStates[0].PID)
		}
		if err := x.observe(c); err != nil {
			t.Fatalf("%s: observe the cell after the setup: %v", c.region, err)
		}
	}
	x.logf("setup done: web in eu and us, pipeline ci and app piped in ap")
}

// run is the chaos phase.
func (x *chaos) run(d time.Duration) {
	t := x.t
	x.load = make(chan chaosLoad, 1)
	var routers []string
	for _, c := range x.cells {
		routers = append(routers, "http://"+c.router)
	}
	go func() {
		res, err := donationload.Run(context.Background(), donationload.Config{Routers: routers, Host: chaosDonationHost,
			Rate: 25, Workers: 16, Duration: d, Prefix: fmt.Sprintf("chaos%d-%d", x.seed, time.Now().UnixNano())})
		x.load <- chaosLoad{res, err}
	}()

	began := time.Now()
	x.logf("chaos for %s", d)
	for time.Since(began) < d {
		now := time.Now()
		for _, c := range x.cells {
			if c.down && now.After(c.upAt) {
				x.restart(c)
			}
			if !c.down && !c.killAt.IsZero() && now.After(c.killAt) {
				c.killAt = time.Time{}
				if len(x.up()) > 1 {
					x.killCell(c, "scheduled by the action before")
				} else {
					x.logf("%s: the scheduled kill is skipped: it is the only cell up", c.region)
				}
			}
		}
		up := x.up()
		for _, c := range up {
			if err := x.pollEvents(c); err != nil {
				x.apiErr(c, "%v", err)
			}
		}
		o := up[x.rng.Intn(len(up))]
		if err := x.observe(o); err != nil {
			x.apiErr(o, "observe: %v", err)
		}
		// Make sure every run kills a cell at least once, halfway at the latest.
		if x.actions["kill cell"] == 0 && time.Since(began) > d/2 {
			x.killCell(x.pickBusy(), "forced: no cell kill yet")
		}
		r := x.rng.Float64()
		if time.Since(began) > d*7/10 {
			// Late in the phase, make up for a kind of action the dice missed.
			for _, k := range []struct {
				kind string
				r    float64
			}{{"kill instance", 0.1}, {"deploy", 0.5}, {"commit", 0.7}} {
				if x.actions[k.kind] == 0 {
					r = k.r
				}
			}
		}
		switch {
		case r < 0.35:
			x.killInstance()
		case r < 0.65:
			x.deploy()
		case r < 0.82:
			x.commit()
		default:
			// Never the last cell up; a second one only now and then.
			if n := len(x.up()); n == len(x.cells) || n > 1 && x.rng.Float64() < 0.3 {
				x.killCell(x.pickBusy(), "random")
			} else {
				x.killInstance()
			}
		}
		time.Sleep(300*time.Millisecond + time.Duration(x.rng.Int63n(int64(1700*time.Millisecond))))
	}
	x.over = true
	for _, c := range x.cells {
		c.killAt = time.Time{}
		if c.down {
			x.restart(c)
		}
	}
	x.logf("chaos over: %v; %d cell kills hit a rollout or a build", x.actions, x.busyKills)
	if x.actions["kill cell"] == 0 || x.actions["kill instance"] == 0 || x.actions["deploy"] == 0 || x.actions["commit"] == 0 {
		t.Errorf("the chaos phase did not do every kind of action: %v (PAVED_CHAOS_DURATION is too short)", x.actions)
	}
}

func (x *chaos) up() []*chaosCell {
	var out []*chaosCell
	for _, c := range x.cells {
		if !c.down {
			out = append(out, c)
		}
	}
	return out
}

// pickBusy prefers a cell that is rolling something out or running a build.
func (x *chaos) pickBusy() *chaosCell {
	up := x.up()
	var busy []*chaosCell
	for _, c := range up {
		if x.busy(c) != "" {
			busy = append(busy, c)
		}
	}
	if len(busy) > 0 && x.rng.Float64() < 0.7 {
		return busy[x.rng.Intn(len(busy))]
	}
	return up[x.rng.Intn(len(up))]
}

// busy says what a cell has in flight: rollouts, staging, builds (as last
// observed); "" when nothing.
func (x *chaos) busy(c *chaosCell) string {
	ctx, cancel := chaosCtx()
	defer cancel()
	apps, err := c.client.Apps.List(ctx, paved.ListAppsOptions{})
	if err != nil {
		return ""
	}
	var what []string
	for _, a := range apps {
		if a.ActiveDeployment != 0 || a.Status == paved.AppStaging {
			what = append(what, fmt.Sprintf("%s %s", a.Name, a.Status))
		}
	}
	if c == x.ap {
		for _, b := range x.builds {
			if b.Status == paved.BuildRunning || b.Status == paved.BuildPending {
				what = append(what, fmt.Sprintf("build %s #%d %s", b.Job, b.Number, b.Status))
			}
		}
	}
	sort.Strings(what)
	return strings.Join(what, ", ")
}

// killInstance SIGKILLs one running instance of a random up cell. An
// instance that already crashed is spared: three crashes of one new
// instance rightly fail a rollout, and the test wants rollouts to converge.
func (x *chaos) killInstance() {
	up := x.up()
	c := up[x.rng.Intn(len(up))]
	ctx, cancel := chaosCtx()
	defer cancel()
	apps, err := c.client.Apps.List(ctx, paved.ListAppsOptions{})
	if err != nil {
		x.apiErr(c, "list apps to kill an instance: %v", err)
		return
	}
	type cand struct {
		app string
		in  paved.InstanceStatus
	}
	var cands []cand
	for _, a := range apps {
		for _, in := range a.InstanceStates {
			if in.PID > 0 && in.State == paved.InstanceRunning && in.Crashes == 0 {
				cands = append(cands, cand{a.Space + "/" + a.Name, in})
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].in.ID < cands[j].in.ID })
	if len(cands) == 0 {
		return
	}
	v := cands[x.rng.Intn(len(cands))]
	if err := syscall.Kill(v.in.PID, syscall.SIGKILL); err != nil {
		x.logf("%s: kill instance %s: %v", c.region, v.in.ID, err)
		return
	}
	x.actions["kill instance"]++
	x.logf("%s: killed instance %s of %s (release %d, pid %d)", c.region, v.in.ID, v.app, v.in.Release, v.in.PID)
}

// killCell kills a whole cell with SIGKILL and schedules its restart.
func (x *chaos) killCell(c *chaosCell, why string) {
	if err := x.observe(c); err != nil {
		x.apiErr(c, "observe before the kill: %v", err)
	}
	// Everything seen so far went through this kill (counts only grow).
	c.riskEvents, c.riskReleases, c.riskBuilds = len(x.events[c]), 0, 0
	for key, rels := range x.releases {
		if strings.HasPrefix(key, c.region+"/") {
			c.riskReleases += len(rels)
		}
	}
	if c == x.ap {
		c.riskBuilds = len(x.builds)
	}
	busy := x.busy(c)
	if busy != "" {
		x.busyKills++
		busy = " during " + busy
	}
	// restart checks that the processes of the killed run are gone: that
	// is vacuous unless cellProcs finds them. Every instance the cell
	// reports running, and still alive after the scan, must be among them.
	ctx, cancel := chaosCtx()
	apps, err := c.client.Apps.List(ctx, paved.ListAppsOptions{})
	cancel()
	if err != nil {
		x.apiErr(c, "list apps before the kill: %v", err)
	}
	before := cellProcs(c.id)
	seen := map[int]bool{}
	for _, p := range before {
		seen[p.pid] = true
	}
	running := 0
	for _, a := range apps {
		for _, in := range a.InstanceStates {
			if in.PID <= 0 || in.State != paved.InstanceRunning {
				continue
			}
			running++
			if !seen[in.PID] && processAlive(in.PID) {
				x.t.Errorf("%s: instance %s (pid %d) runs, but the scan for PAVED_CELL=%s before the kill did not find it", c.region, in.ID, in.PID, c.id)
			}
		}
	}
	if running > 0 && len(before) == 0 {
		x.t.Errorf("%s: the cell reports %d running instances, but no process carries PAVED_CELL=%s", c.region, running, c.id)
	}
	c.kill9()
	c.down, c.kills, c.killAt = true, c.kills+1, time.Time{}
	c.upAt = time.Now().Add(time.Second + time.Duration(x.rng.Int63n(int64(4*time.Second))))
	x.actions["kill cell"]++
	x.logf("%s: killed the cell (%s)%s, %d processes of it were running; restart in %s", c.region, why, busy, len(before),
		time.Until(c.upAt).Round(100*time.Millisecond))
	c.killedProcs = before
}

// restart starts a killed cell again on its data dir and ports; the
// processes of its killed run must be gone by the time it answers.
func (x *chaos) restart(c *chaosCell) {
	if !x.over && x.rng.Float64() < 0.2 {
		// A start that dies early: while it sweeps, migrates, resumes.
		after := 50*time.Millisecond + time.Duration(x.rng.Int63n(int64(500*time.Millisecond)))
		if err := killedStart(c.argv, c.logPath, after); err != nil {
			x.t.Fatalf("%s: %v", c.region, err)
		}
		x.logf("%s: killed a restart %s after it began", c.region, after.Round(time.Millisecond))
	}
	c.start()
	c.down = false
	for _, p := range c.killedProcs {
		if now, ok := procStat(p.pid); ok && now.start == p.start && !sigkillPending(p.pid) {
			x.escaped = append(x.escaped, fmt.Sprintf("%s: pid %d (instance %q, pipeline %q) of the killed run is still alive after the restart",
				c.region, p.pid, p.env["PAVED_INSTANCE"], p.env["PAVED_PIPELINE"]))
		}
	}
	c.killedProcs = nil
	msg := ""
	if !x.over && x.rng.Float64() < 0.2 {
		// Kill it again while it recovers: resuming rollouts, failing builds.
		c.killAt = time.Now().Add(300*time.Millisecond + time.Duration(x.rng.Int63n(int64(2*time.Second))))
		msg = fmt.Sprintf("; it dies again in %s", time.Until(c.killAt).Round(100*time.Millisecond))
	}
	x.logf("%s: restarted%s", c.region, msg)
}

// deploy changes a web app's env (and sometimes its instance count): a new
// release rolls out. Sometimes its cell is killed shortly after.
func (x *chaos) deploy() {
	var cands []*chaosApp
	for _, w := range x.webs {
		if !w.c.down {
			cands = append(cands, w)
		}
	}
	if len(cands) == 0 {
		return
	}
	w := cands[x.rng.Intn(len(cands))]
	ctx, cancel := chaosCtx()
	defer cancel()
	a, err := w.c.client.Apps.Get(ctx, w.space, w.name)
	if err != nil {
		x.apiErr(w.c, "get %s: %v", w.name, err)
		return
	}
	x.gen++
	spec := a.AppSpec
	spec.SecretEnv = nil
	if spec.Env == nil {
		spec.Env = map[string]string{}
	}
	spec.Env[chaosGenEnv] = strconv.Itoa(x.gen)
	if x.rng.Float64() < 0.3 {
		spec.Instances = 2 + x.rng.Intn(3)
	}
	_, err = w.c.client.Apps.Update(ctx, w.space, spec)
	w.updates = append(w.updates, webUpdate{gen: spec.Env[chaosGenEnv], instances: spec.Instances, acked: err == nil})
	x.actions["deploy"]++
	if err != nil {
		x.logf("%s: update %s to gen %d: %v (unknown whether it was taken)", w.c.region, w.name, x.gen, err)
		return
	}
	msg := ""
	if x.rng.Float64() < 0.35 {
		w.c.killAt = time.Now().Add(300*time.Millisecond + time.Duration(x.rng.Int63n(int64(3*time.Second))))
		msg = fmt.Sprintf("; the cell dies in %s", time.Until(w.c.killAt).Round(100*time.Millisecond))
	}
	x.logf("%s: rolling out %s gen %d with %d instances%s", w.c.region, w.name, x.gen, spec.Instances, msg)
}

// commit pushes a commit to the pipeline's repo: a test build, then a
// deploy build. Sometimes the pipeline's cell is killed a little later.
func (x *chaos) commit() {
	x.commits++
	sha := x.repo.commit(fmt.Sprintf("chaos %d", x.commits), "VERSION", fmt.Sprintf("%d\n", x.commits))
	x.actions["commit"]++
	if !x.ap.down {
		ctx, cancel := chaosCtx()
		if err := x.ap.client.Pipelines.Check(ctx, "demo", "ci", "repo"); err != nil {
			x.logf("ap: check repo: %v", err)
		}
		cancel()
	}
	msg := ""
	if x.rng.Float64() < 0.35 && !x.ap.down {
		x.ap.killAt = time.Now().Add(time.Second + time.Duration(x.rng.Int63n(int64(5*time.Second))))
		msg = fmt.Sprintf("; the cell dies in %s", time.Until(x.ap.killAt).Round(100*time.Millisecond))
	}
	x.logf("ap: committed %.10s%s", sha, msg)
}

// observe records what a cell shows now: its events, its apps' releases,
// its builds. What was seen must survive every later kill. It returns what
// it could not see.
func (x *chaos) observe(c *chaosCell) error {
	if c.down {
		return nil
	}
	var errs []error
	if err := x.pollEvents(c); err != nil {
		errs = append(errs, err)
	}
	ctx, cancel := chaosCtx()
	defer cancel()
	apps, err := c.client.Apps.List(ctx, paved.ListAppsOptions{})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list apps: %w", err))...)
	}
	for _, a := range apps {
		rels, err := c.client.Releases.List(ctx, a.Space, a.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("releases of %s: %w", a.Name, err))
			continue
		}
		key := c.region + "/" + a.Space + "/" + a.Name
		if x.releases[key] == nil {
			x.releases[key] = map[int]paved.Release{}
		}
		for _, r := range rels {
			x.releases[key][r.Number] = r
		}
	}
	if c == x.ap {
		for _, job := range []string{"test", "deploy"} {
			bs, err := c.client.Pipelines.Builds(ctx, "demo", "ci", job)
			if err != nil {
				errs = append(errs, fmt.Errorf("builds of %s: %w", job, err))
				continue
			}
			for _, b := range bs {
				x.builds[b.ID] = b
			}
		}
	}
	return errors.Join(errs...)
}

func (x *chaos) pollEvents(c *chaosCell) error {
	ctx, cancel := chaosCtx()
	defer cancel()
	for {
		evs, err := c.client.Events.List(ctx, paved.ListEventsOptions{After: x.lastEvent[c], Limit: 1000})
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		for _, e := range evs {
			x.events[c][e.ID] = e
			x.lastEvent[c] = max(x.lastEvent[c], e.ID)
		}
		if len(evs) < 1000 {
			return nil
		}
	}
}

// check waits for convergence and checks every invariant.
func (x *chaos) check() {
	t := x.t
	var load chaosLoad
	select {
	case load = <-x.load:
	case <-time.After(2 * time.Minute):
		t.Fatal("the donation load did not finish")
	}
	if load.err != nil {
		t.Fatalf("donation load: %v", load.err)
	}
	res := load.res
	x.logf("donations: %d acknowledged (%.0f/s), %d failed attempts, longest failure window %s, %d given up",
		len(res.Acked), res.Rate(), res.Failed, res.FailureWindow.Round(time.Millisecond), len(res.Lost))

	final := x.repo.commit("after the chaos", "VERSION", "final\n")
	_, finalSource, err := paved.Archive(x.repo.dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := chaosCtx()
	x.ap.client.Pipelines.Check(ctx, "demo", "ci", "repo")
	cancel()

	converged := time.Now()
	if err := chaosWait(3*time.Minute, time.Second, func() error { return x.converged(final, finalSource) }); err != nil {
		t.Fatalf("declared state did not converge within 3m after the chaos: %v", err)
	}
	x.logf("declared state converged in %s", time.Since(converged).Round(100*time.Millisecond))

	for _, c := range x.cells {
		if err := chaosWait(20*time.Second, 500*time.Millisecond, func() error { return x.noOrphans(c) }); err != nil {
			t.Errorf("orphaned processes: %v", err)
		}
	}
	for _, e := range x.escaped {
		t.Errorf("orphaned process: %s", e)
	}
	x.checkReleases()
	x.checkEvents()
	x.checkBuilds()

	if len(res.Lost) > 0 {
		t.Errorf("%d donations were given up after 30s of retries over every region, e.g. %s", len(res.Lost), res.Lost[0])
	}
	if len(res.Acked) == 0 {
		t.Errorf("no donation was acknowledged during the chaos")
	}
	client := httpClient()
	for _, c := range x.cells {
		var tot donationload.Total
		err := chaosWait(90*time.Second, 500*time.Millisecond, func() error {
			var err error
			tot, err = donationload.Verify(context.Background(), client, "http://"+c.router, chaosDonationHost, res.Acked, res.Lost)
			return err
		})
		if err != nil {
			t.Errorf("donations in %s: %v", c.region, err)
			continue
		}
		x.logf("%s: %d donations, %d cents, every acknowledged one exactly once (%d taken here)", c.region, tot.Count, tot.TotalCents, tot.LocalCount)
	}
	for _, c := range x.cells {
		b, err := os.ReadFile(c.logPath)
		if err != nil {
			t.Errorf("%s: read the cell's log: %v", c.region, err)
			continue
		}
		for _, bad := range []string{"panic:", "fatal error:", "DATA RACE"} {
			if i := strings.Index(string(b), bad); i >= 0 {
				t.Errorf("%s: the cell's log has %q:\n%s", c.region, bad, tail(string(b[i:]), 40))
			}
		}
	}
	var kills []string
	events, releases, builds := 0, 0, 0
	for _, c := range x.cells {
		kills = append(kills, fmt.Sprintf("%s ×%d", c.region, c.kills))
		events, releases, builds = events+c.riskEvents, releases+c.riskReleases, builds+c.riskBuilds
	}
	x.logf("checked: %d events, %d releases and %d builds seen before a kill of their cell survived it; cells killed: %s",
		events, releases, builds, strings.Join(kills, ", "))
	if events == 0 || releases == 0 {
		t.Errorf("%d events and %d releases were seen before a kill of their cell: the no-lost checks tested nothing", events, releases)
	}
	if len(x.apiErrs) > 0 {
		t.Errorf("%d calls failed on cells that were up; what observe missed, the no-lost checks did not compare:\n%s",
			len(x.apiErrs), strings.Join(x.apiErrs[:min(len(x.apiErrs), 10)], "\n"))
	}
}

// chaosWait retries fn every interval until it succeeds or within passed,
// and returns its last error.
func chaosWait(within, interval time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}

// converged tells what, if anything, still differs from the declared state.
func (x *chaos) converged(final, finalSource string) error {
	ctx, cancel := chaosCtx()
	defer cancel()
	for _, c := range x.cells {
		apps, err := c.client.Apps.List(ctx, paved.ListAppsOptions{})
		if err != nil {
			return fmt.Errorf("%s: %w", c.region, err)
		}
		if len(apps) != c.apps {
			return fmt.Errorf("%s has %d apps, want %d", c.region, len(apps), c.apps)
		}
		for _, a := range apps {
			name := c.region + ":" + a.Space + "/" + a.Name
			if a.ObservedGeneration != a.Generation || a.ActiveDeployment != 0 || a.Status != paved.AppRunning {
				return fmt.Errorf("%s: status %s, generation %d observed %d, deployment %d: %s", name, a.Status,
					a.Generation, a.ObservedGeneration, a.ActiveDeployment, a.Message)
			}
			if a.Release != a.LastGoodRelease {
				return fmt.Errorf("%s runs release %d but its last good release is %d", name, a.Release, a.LastGoodRelease)
			}
			if a.RunningCount != a.Instances || len(a.InstanceStates) != a.Instances {
				return fmt.Errorf("%s: %d of %d instances healthy, %d instances", name, a.RunningCount, a.Instances, len(a.InstanceStates))
			}
			for _, in := range a.InstanceStates {
				if !in.Healthy || in.State != paved.InstanceRunning || in.Release != a.Release || in.PID == 0 {
					return fmt.Errorf("%s: instance %s is %s (healthy %v) on release %d, want running release %d", name, in.ID, in.State, in.Healthy, in.Release, a.Release)
				}
			}
			deps, err := c.client.Deployments.List(ctx, a.Space, a.Name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			for _, d := range deps {
				if d.Status == paved.DeploymentRunning {
					return fmt.Errorf("%s: deployment %d of release %d is still running (phase %s)", name, d.ID, d.Release, d.Phase)
				}
			}
			rels, err := c.client.Releases.List(ctx, a.Space, a.Name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			var cur *paved.Release
			for i := range rels {
				if rels[i].Number == a.Release {
					cur = &rels[i]
				}
			}
			if cur == nil || cur.Status != paved.ReleaseGood {
				return fmt.Errorf("%s: its release %d is not listed as good: %+v", name, a.Release, cur)
			}
			if c == x.ap && a.Name == "piped" && cur.Config.Source != finalSource {
				return fmt.Errorf("%s runs source %.12s, not the one of the commit pushed after the chaos (%.12s)", name, cur.Config.Source, finalSource)
			}
			if w := x.web(c, a.Space, a.Name); w != nil {
				if err := w.declared(a, cur); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
		}
	}
	// The commit pushed after the chaos is tested and deployed, and no
	// build is left pending or running.
	for _, job := range []string{"test", "deploy"} {
		bs, err := x.ap.client.Pipelines.Builds(ctx, "demo", "ci", job)
		if err != nil {
			return fmt.Errorf("ap: builds of %s: %w", job, err)
		}
		found := false
		for _, b := range bs {
			if b.FinishedAt == nil || b.Status == paved.BuildPending || b.Status == paved.BuildRunning {
				return fmt.Errorf("ap: %s build #%d of %.10s is %s", job, b.Number, b.Inputs["repo"], b.Status)
			}
			if b.Inputs["repo"] == final {
				found = true
				if b.Status != paved.BuildSucceeded {
					log, _ := x.ap.client.Pipelines.BuildLog(ctx, b.ID)
					x.t.Fatalf("ap: the %s build #%d of the commit pushed after the chaos %s: %s\n%s", job, b.Number, b.Status, b.Reason, tail(log, 30))
				}
			}
		}
		if !found {
			return fmt.Errorf("ap: no %s build of the commit pushed after the chaos (%.10s) yet", job, final)
		}
	}
	return nil
}

func (x *chaos) web(c *chaosCell, space, name string) *chaosApp {
	for _, w := range x.webs {
		if w.c == c && w.space == space && w.name == name {
			return w
		}
	}
	return nil
}

// declared checks that a web app runs its newest acknowledged spec: the
// last acknowledged change, or a later one whose call failed (it may have
// been taken), with that change's instance count.
func (w *chaosApp) declared(a paved.App, cur *paved.Release) error {
	last := 0
	for i, u := range w.updates {
		if u.acked {
			last = i
		}
	}
	gen := a.Env[chaosGenEnv]
	if relGen := cur.Config.Env[chaosGenEnv]; relGen != gen {
		return fmt.Errorf("the spec says %s=%q but release %d runs %q", chaosGenEnv, gen, cur.Number, relGen)
	}
	for _, u := range w.updates[last:] {
		if u.gen == gen {
			if a.Instances != u.instances {
				return fmt.Errorf("gen %q declared %d instances, the app has %d", gen, u.instances, a.Instances)
			}
			return nil
		}
	}
	return fmt.Errorf("runs %s=%q, but the newest acknowledged change is %q (%d changes made)", chaosGenEnv, gen, w.updates[last].gen, len(w.updates)-1)
}

// noOrphans checks that the processes carrying the cell's marker are
// exactly its instances, one process group each.
func (x *chaos) noOrphans(c *chaosCell) error {
	ctx, cancel := chaosCtx()
	defer cancel()
	apps, err := c.client.Apps.List(ctx, paved.ListAppsOptions{})
	if err != nil {
		return err
	}
	want := map[string]int{} // instance → pid (= its process group)
	declared := 0
	for _, a := range apps {
		declared += a.Instances
		for _, in := range a.InstanceStates {
			want[in.ID] = in.PID
		}
	}
	groups := map[int]bool{}
	var bad []string
	for _, p := range cellProcs(c.id) {
		inst := p.env["PAVED_INSTANCE"]
		pid, ok := want[inst]
		switch {
		case inst == "":
			bad = append(bad, fmt.Sprintf("pid %d (pipeline %q, not an instance)", p.pid, p.env["PAVED_PIPELINE"]))
		case !ok:
			bad = append(bad, fmt.Sprintf("pid %d of instance %s, which the cell does not report", p.pid, inst))
		case p.pgid != pid && !inSandboxOf(p.pid, pid):
			bad = append(bad, fmt.Sprintf("pid %d of instance %s in process group %d, but the instance runs as %d", p.pid, inst, p.pgid, pid))
		default:
			groups[pid] = true
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: %s", c.region, strings.Join(bad, "; "))
	}
	if len(groups) != declared || len(want) != declared {
		return fmt.Errorf("%s: %d instance process groups, %d instances reported, %d declared", c.region, len(groups), len(want), declared)
	}
	return nil
}

// inSandboxOf tells whether pid runs in the sandbox whose init is leader:
// an isolated instance's command has a process group of its own inside
// the sandbox's PID namespace, which the init (the instance's pid) leads.
func inSandboxOf(pid, leader int) bool {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", leader))
	if err != nil {
		return false
	}
	own, _ := os.Readlink("/proc/self/ns/pid")
	theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	return ns != own && theirs == ns
}

// checkReleases: every release seen is still there with the same
// configuration, numbers run from 1 without gaps, and each release has
// exactly one release.create event.
func (x *chaos) checkReleases() {
	t := x.t
	seen := 0
	for _, c := range x.cells {
		ctx, cancel := chaosCtx()
		apps, err := c.client.Apps.List(ctx, paved.ListAppsOptions{})
		cancel()
		if err != nil {
			t.Errorf("%s: %v", c.region, err)
			continue
		}
		created := map[string]int{}
		for _, e := range x.allEvents(c) {
			if e.Action == "release.create" {
				created[e.Object+" "+e.Detail]++
			}
		}
		for _, a := range apps {
			ctx, cancel := chaosCtx()
			rels, err := c.client.Releases.List(ctx, a.Space, a.Name)
			cancel()
			if err != nil {
				t.Errorf("%s: %v", c.region, err)
				continue
			}
			now := map[int]paved.Release{}
			for _, r := range rels {
				now[r.Number] = r
			}
			key := c.region + "/" + a.Space + "/" + a.Name
			for n := 1; n <= len(rels); n++ {
				if _, ok := now[n]; !ok {
					t.Errorf("%s: releases %v have a gap at %d", key, chaosKeys(now), n)
				}
				if k := fmt.Sprintf("app/%s/%s release %d", a.Space, a.Name, n); created[k] != 1 {
					t.Errorf("%s: release %d has %d release.create events, want 1", key, n, created[k])
				}
			}
			for n, old := range x.releases[key] {
				seen++
				r, ok := now[n]
				switch {
				case !ok:
					t.Errorf("%s: release %d (%s, %s=%q) was listed before and is lost", key, n, old.Status, chaosGenEnv, old.Config.Env[chaosGenEnv])
				case r.Config.Droplet != old.Config.Droplet || r.Config.Source != old.Config.Source ||
					fmt.Sprint(r.Config.Env) != fmt.Sprint(old.Config.Env) || !r.CreatedAt.Equal(old.CreatedAt):
					t.Errorf("%s: release %d changed: %+v → %+v", key, n, old, r)
				}
			}
		}
	}
	x.logf("releases: %d seen during the chaos, all still there", seen)
}

// allEvents lists a cell's whole event log.
func (x *chaos) allEvents(c *chaosCell) []paved.Event {
	var out []paved.Event
	var after int64
	for {
		ctx, cancel := chaosCtx()
		evs, err := c.client.Events.List(ctx, paved.ListEventsOptions{After: after, Limit: 1000})
		cancel()
		if err != nil {
			x.t.Fatalf("%s: events: %v", c.region, err)
		}
		out = append(out, evs...)
		if len(evs) < 1000 {
			return out
		}
		after = evs[len(evs)-1].ID
	}
}

// checkEvents: every event seen is still there, unchanged, and ids rise.
func (x *chaos) checkEvents() {
	t := x.t
	total := 0
	for _, c := range x.cells {
		all := x.allEvents(c)
		byID := map[int64]paved.Event{}
		for i, e := range all {
			if i > 0 && e.ID <= all[i-1].ID {
				t.Errorf("%s: event ids out of order: %d after %d", c.region, e.ID, all[i-1].ID)
			}
			byID[e.ID] = e
		}
		lost := 0
		for id, old := range x.events[c] {
			total++
			e, ok := byID[id]
			switch {
			case !ok:
				lost++
				if lost <= 5 {
					t.Errorf("%s: event %d (%s %s %s) is lost", c.region, id, old.Action, old.Object, old.Detail)
				}
			case e.Action != old.Action || e.Object != old.Object || e.Detail != old.Detail || e.Actor != old.Actor || !e.Time.Equal(old.Time):
				t.Errorf("%s: event %d changed: %+v → %+v", c.region, id, old, e)
			}
		}
		if lost > 5 {
			t.Errorf("%s: %d events lost in all", c.region, lost)
		}
	}
	x.logf("events: %d seen during the chaos, all still there", total)
}

// checkBuilds: every build seen is still there, and one seen finished
// kept its outcome.
func (x *chaos) checkBuilds() {
	t := x.t
	now := map[int64]paved.JobBuild{}
	statuses := map[string]int{}
	for _, job := range []string{"test", "deploy"} {
		ctx, cancel := chaosCtx()
		bs, err := x.ap.client.Pipelines.Builds(ctx, "demo", "ci", job)
		cancel()
		if err != nil {
			t.Errorf("ap: builds of %s: %v", job, err)
			return
		}
		for _, b := range bs {
			now[b.ID] = b
			statuses[job+" "+b.Status]++
			if b.Status == paved.BuildFailed {
				x.logf("ap: %s build #%d failed: %s", job, b.Number, b.Reason)
			}
		}
	}
	for id, old := range x.builds {
		b, ok := now[id]
		switch {
		case !ok:
			t.Errorf("ap: %s build #%d (%s) is lost", old.Job, old.Number, old.Status)
		case old.FinishedAt != nil && b.Status != old.Status:
			t.Errorf("ap: %s build #%d was %s and is now %s", old.Job, old.Number, old.Status, b.Status)
		case b.Inputs["repo"] != old.Inputs["repo"] || b.Number != old.Number:
			t.Errorf("ap: build %d changed: %+v → %+v", id, old, b)
		}
	}
	x.logf("builds: %d seen during the chaos, all still there; now %v", len(x.builds), statuses)
}

func chaosKeys(m map[int]paved.Release) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
