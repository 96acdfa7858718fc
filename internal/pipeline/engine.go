package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/sandbox"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// DefaultCheckEvery is how often a source is polled when it does not say.
const DefaultCheckEvery = time.Minute

// DefaultRetain is how many builds per job are kept.
const DefaultRetain = 100

// Options configure an Engine.
type Options struct {
	Store   Store
	DataDir string        // mirrors, build dirs and build logs live under DataDir/pipelines
	Client  *paved.Client // the cell's own API, which deploy steps go through
	// RouterAddr is where "router:/path" in an http assert points.
	RouterAddr string
	// RouterTLS makes those asserts use https (the cell's router speaks
	// TLS only); RouterClient, when set, sends them, e.g. with a transport
	// that trusts the cell's own certificate. Default a plain client.
	RouterTLS    bool
	RouterClient *http.Client
	// Promote is told when every job getting a gate source passed a release.
	Promote func(space, app string, release int)
	// Jail runs tasks: sandboxed as the pipeline's space's uid when it
	// isolates, as the cell's own processes when nil or not.
	Jail   *sandbox.Jail
	Logger *slog.Logger
}

// Engine runs every pipeline of a cell: one loop per pipeline checks its
// sources and starts the builds the scheduler asks for.
type Engine struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	loops   map[int64]*loop
	running map[int64]bool // builds running in this process
	ctx     context.Context
	wg      sync.WaitGroup
	builds  sync.WaitGroup
}

type loop struct {
	id        int64
	wake      chan struct{}
	dirty     atomic.Bool // something changed since the last schedule
	scheduled time.Time
	cancel    context.CancelFunc
	lastCheck map[string]time.Time
	checkMu   sync.Mutex            // one check of a source at a time
	checks    map[string]*coalescer // per source: concurrent checks share runs
	mirrorURI map[string]string     // per git source: the URI its mirror fetches (under checkMu)
	ctx       context.Context
	builds    sync.WaitGroup // this pipeline's running builds
	done      chan struct{}  // closed when the loop has ended
}

// New returns an engine; it does nothing until Start.
func New(opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, log: opts.Logger, loops: map[int64]*loop{}, running: map[int64]bool{}}
}

func (e *Engine) dir(parts ...string) string {
	return filepath.Join(append([]string{e.opts.DataDir, "pipelines"}, parts...)...)
}

// Start marks builds a previous run left running as errored (they never run
// twice), then starts a loop per pipeline.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
	running, err := e.opts.Store.ListJobBuildsByStatus(ctx, paved.BuildRunning)
	if err != nil {
		return err
	}
	for _, b := range running {
		now := time.Now().UTC()
		b.Status, b.Reason, b.FinishedAt = paved.BuildErrored, "the cell restarted during the build; it is not run again", &now
		for i := range b.Steps {
			if b.Steps[i].Status == paved.StepRunning {
				b.Steps[i].Status, b.Steps[i].FinishedAt = paved.StepErrored, &now
			}
		}
		if err := e.opts.Store.UpdateJobBuild(ctx, b); err != nil {
			return err
		}
	}
	ps, err := e.opts.Store.ListPipelines(ctx, "")
	if err != nil {
		return err
	}
	for _, p := range ps {
		e.Notify(p.ID)
	}
	return nil
}

// Notify starts (or wakes) a pipeline's loop after it was set or deleted.
func (e *Engine) Notify(id int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil || e.ctx.Err() != nil {
		return
	}
	l := e.loops[id]
	if l == nil {
		ctx, cancel := context.WithCancel(e.ctx)
		l = &loop{id: id, wake: make(chan struct{}, 1), cancel: cancel, lastCheck: map[string]time.Time{}, ctx: ctx,
			checks: map[string]*coalescer{}, mirrorURI: map[string]string{},
			done: make(chan struct{})}
		e.loops[id] = l
		e.wg.Add(1)
		go e.run(ctx, l)
	}
	l.poke()
}

// Stopped waits until the loop of a deleted pipeline has ended: its builds
// stopped and their preview environments destroyed. It returns at once
// for a pipeline without a loop, and ctx's error if ctx ends first.
func (e *Engine) Stopped(ctx context.Context, id int64) error {
	e.mu.Lock()
	l := e.loops[id]
	e.mu.Unlock()
	if l == nil {
		return nil
	}
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *loop) poke() {
	l.dirty.Store(true)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Wait blocks until every loop and build has returned (after ctx ends).
func (e *Engine) Wait() {
	e.wg.Wait()
	e.builds.Wait()
}

// Check checks one source now (a webhook) and schedules what it finds.
func (e *Engine) Check(ctx context.Context, pipelineID int64, source string) error {
	p, err := e.opts.Store.GetPipelineByID(ctx, pipelineID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	l := e.loops[pipelineID]
	e.mu.Unlock()
	if l == nil {
		return fmt.Errorf("pipeline %s is not running", p.Spec.Name)
	}
	for _, src := range p.Spec.Sources {
		if src.Name == source {
			err := e.check(l, p, src)
			l.poke()
			return err
		}
	}
	return store.ErrNotFound
}

func (e *Engine) run(ctx context.Context, l *loop) {
	defer e.wg.Done()
	defer close(l.done)
	l.dirty.Store(true)
	for {
		wait := time.Second
		p, err := e.opts.Store.GetPipelineByID(ctx, l.id)
		if errors.Is(err, store.ErrNotFound) {
			// Deleted: its builds stop before their files go.
			e.mu.Lock()
			delete(e.loops, l.id)
			e.mu.Unlock()
			l.cancel()
			l.builds.Wait()
			os.RemoveAll(e.dir(fmt.Sprint(l.id)))
			return
		}
		if err == nil {
			e.pass(ctx, l, p)
			wait = e.nextCheck(l, p)
		} else if ctx.Err() == nil {
			e.log.Error("read pipeline", "pipeline", l.id, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-time.After(wait):
		}
	}
}

// nextCheck is how long until the next source is due (at most a second,
// so a slow check or a clock jump is caught up soon).
func (e *Engine) nextCheck(l *loop, p store.Pipeline) time.Duration {
	wait := time.Second
	if p.Spec.Paused {
		return wait // nothing is checked; a set or a webhook wakes the loop
	}
	l.checkMu.Lock()
	defer l.checkMu.Unlock()
	for _, src := range p.Spec.Sources {
		if d := time.Until(l.lastCheck[src.Name].Add(checkEvery(src))); d < wait {
			wait = max(d, 10*time.Millisecond)
		}
	}
	return wait
}

func checkEvery(src paved.SourceSpec) time.Duration {
	if src.CheckEvery > 0 {
		return src.CheckEvery.D()
	}
	return DefaultCheckEvery
}

// pass checks the sources that are due and starts what the scheduler wants.
func (e *Engine) pass(ctx context.Context, l *loop, p store.Pipeline) {
	if !p.Spec.Paused {
		for _, src := range p.Spec.Sources {
			l.checkMu.Lock()
			due := time.Since(l.lastCheck[src.Name]) >= checkEvery(src)
			l.checkMu.Unlock()
			if due {
				if err := e.check(l, p, src); err != nil && ctx.Err() == nil {
					e.log.Warn("check source", "pipeline", p.Spec.Name, "source", src.Name, "err", err)
				}
				l.dirty.Store(true)
			}
		}
	}
	// Scheduling reads every version and build of the pipeline: do it when
	// something changed (a check, a finished build, a new spec), and now and
	// then in case a change was missed.
	if !l.dirty.Swap(false) && time.Since(l.scheduled) < 10*time.Second {
		return
	}
	l.scheduled = time.Now()
	if err := e.schedule(ctx, l, p); err != nil && ctx.Err() == nil {
		e.log.Error("schedule", "pipeline", p.Spec.Name, "err", err)
	}
}

// schedule creates the builds Schedule asks for and starts them.
func (e *Engine) schedule(ctx context.Context, l *loop, p store.Pipeline) error {
	all, err := e.opts.Store.ListVersions(ctx, p.ID, "")
	if err != nil {
		return err
	}
	versions := map[string][]paved.SourceVersion{}
	for _, v := range all {
		versions[v.Source] = append(versions[v.Source], v)
	}
	builds, err := e.opts.Store.ListJobBuilds(ctx, p.ID, "")
	if err != nil {
		return err
	}
	past := make([]Past, 0, len(builds))
	for _, b := range builds {
		ids := map[string]int64{}
		for k, in := range b.InputRefs {
			ids[k] = in.ID
		}
		past = append(past, Past{Job: b.Job, Inputs: ids, Status: b.Status})
	}
	for _, w := range Schedule(p.Spec, versions, past) {
		b, created, err := e.opts.Store.CreateJobBuild(ctx, p.ID, w.Job, w.Inputs)
		if err != nil {
			return err
		}
		if created {
			e.startBuild(l, p, b)
		}
	}
	// Pending builds left by a restart start now.
	for _, b := range builds {
		if b.Status == paved.BuildPending && !e.isRunning(b.ID) {
			e.startBuild(l, p, b)
		}
	}
	return nil
}

func (e *Engine) isRunning(id int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running[id]
}

// startBuild runs a build in the background, once per process.
func (e *Engine) startBuild(l *loop, p store.Pipeline, b store.JobBuild) {
	e.mu.Lock()
	if e.running[b.ID] {
		e.mu.Unlock()
		return
	}
	e.running[b.ID] = true
	e.mu.Unlock()
	e.builds.Add(1)
	l.builds.Add(1)
	go func() {
		defer e.builds.Done()
		defer l.builds.Done()
		defer func() {
			e.mu.Lock()
			delete(e.running, b.ID)
			e.mu.Unlock()
		}()
		e.runBuild(l.ctx, p, b)
		e.gates(l.ctx, p, b.ID)
		l.poke() // downstream jobs may have a new passed version
	}()
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "whk_" + hex.EncodeToString(b)
}

// NewToken makes a webhook token; the API uses it when a pipeline is set.
func NewToken() string { return newToken() }

// gates promotes a release once every job that gets a gate source has a
// succeeded build of it.
func (e *Engine) gates(ctx context.Context, p store.Pipeline, buildID int64) {
	if e.opts.Promote == nil {
		return
	}
	b, err := e.opts.Store.GetJobBuild(ctx, buildID)
	if err != nil || b.Status != paved.BuildSucceeded {
		return
	}
	builds, err := e.opts.Store.ListJobBuilds(ctx, p.ID, "")
	if err != nil {
		return
	}
	for _, src := range p.Spec.Sources {
		in, ok := b.InputRefs[src.Name]
		if src.Type != paved.SourceAppRelease || !src.Gate || !ok {
			continue
		}
		passedAll := true
		for _, job := range p.Spec.Jobs {
			if !getsSource(job, src.Name) {
				continue
			}
			passed := false
			for _, jb := range builds {
				passed = passed || jb.Job == job.Name && jb.Status == paved.BuildSucceeded && jb.InputRefs[src.Name].ID == in.ID
			}
			passedAll = passedAll && passed
		}
		if rel, err := strconv.Atoi(in.Version); err == nil && passedAll {
			e.opts.Promote(p.Space, src.App, rel)
		}
	}
}

func getsSource(job paved.JobSpec, source string) bool {
	for _, g := range paved.Gets(job.Plan) {
		if g.Get == source {
			return true
		}
	}
	return false
}
