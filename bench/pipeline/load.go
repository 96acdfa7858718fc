package main

import (
	"context"
	"fmt"
	"github.com/pavedroad/terraform-provider-paved/bench/internal/benchkit"
	"path/filepath"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// loadCommit is one commit of part 3 and its webhook.
type loadCommit struct {
	pipe                   int
	sha                    string
	sched                  time.Time // when the schedule wanted the commit
	commitStart, committed time.Time
	hookSent, hookDone     time.Time
	hookStatus             int
	hookErr                string
}

type loadPipe struct {
	name  string
	repo  *repo
	first string // the head when the pipeline was set; its build is set-up, not load
	hook  paved.Webhook
}

// loadResult is part 3.
type loadResult struct {
	pipelines, perPipeline int
	rate                   float64
	duration               time.Duration
	version                string

	setup, initial time.Duration // repositories + pipelines; their first builds

	idle                     time.Duration
	idleSelf, idleAll        float64 // cores of the cell during the idle window
	idleRSS                  int64
	loadSelf, loadAll        float64 // cores of the cell while commits were made
	totalSelf, totalAll      float64 // … from the first commit until every build finished
	genSelf, genAll          float64 // cores of this program (and its git commits) while commits were made
	loadWall, totalWall      time.Duration
	rssBefore, rssMax, rssHW int64
	rssEnd                   int64

	commits       []loadCommit
	hookErrors    int
	firstHookErr  string
	drainTimedOut bool
	drainNote     string

	// builds, counted per commit at the end
	builds, started, finished, succeeded int
	duplicates, missing, extra, failed   int
	dupExamples                          []string
	firstFailure                         string
	fromCommit, fromHook, hookCall       []time.Duration
	commitCall, lag                      []time.Duration
	lastStart                            time.Time     // the last build start of a load commit
	loadEnd                              time.Time     // the last webhook answered
	commitSpan                           time.Duration // first commit started → last commit made
}

func (b *bench) loadPart(ctx context.Context) (*loadResult, error) {
	o := b.o
	per := int(o.duration.Seconds() * o.rate)
	res := &loadResult{pipelines: o.pipelines, perPipeline: per, rate: o.rate, duration: o.duration, version: o.loadVersion}
	logf("3. load: %d pipelines × %d commits (%.3g/s for %s), each followed by its webhook; get version %s",
		o.pipelines, per, o.rate, o.duration, o.loadVersion)

	// ---------------------------------------------------------- set up --
	setupStart := time.Now()
	pipes := make([]*loadPipe, o.pipelines)
	for i := range pipes {
		pipes[i] = &loadPipe{name: fmt.Sprintf("load-%03d", i)}
	}
	if err := parallel(ctx, o.setupJobs, len(pipes), func(i int) error {
		var err error
		pipes[i].repo, pipes[i].first, err = newRepo(ctx, filepath.Join(o.work, pipes[i].name))
		return err
	}); err != nil {
		return nil, err
	}
	for _, p := range pipes {
		pl, err := b.c.Pipelines.Set(ctx, o.space, pipelineSpec(p.name, p.repo.dir, time.Hour, o.loadVersion, max(100, per+20)))
		if err != nil {
			return nil, fmt.Errorf("set pipeline %s: %w", p.name, err)
		}
		var ok bool
		if p.hook, ok = pl.Webhooks["repo"]; !ok || p.hook.Path == "" {
			return nil, fmt.Errorf("pipeline %s has no webhook for source repo", p.name)
		}
	}
	res.setup = time.Since(setupStart)
	logf("3. %d repositories and pipelines set up in %s; waiting for their first builds", len(pipes), res.setup.Round(time.Millisecond))
	initStart := time.Now()
	if err := b.waitFirstBuilds(ctx, pipes, 5*time.Minute); err != nil {
		return nil, err
	}
	res.initial = time.Since(initStart)
	logf("3. first builds finished in %s", res.initial.Round(time.Millisecond))

	// ------------------------------------------------------------ idle --
	if o.idle > 0 {
		a, err := readCPU(o.cellPID)
		if err != nil {
			return nil, err
		}
		if err := sleep(ctx, o.idle); err != nil {
			return nil, err
		}
		z, err := readCPU(o.cellPID)
		if err != nil {
			return nil, err
		}
		res.idle = z.at.Sub(a.at)
		res.idleSelf, res.idleAll = cores(a, z)
		res.idleRSS, _, _ = benchkit.MemOf(o.cellPID)
		logf("3. idle: the cell used %.2f cores (%.2f with children) with %d pipelines and no commits", res.idleSelf, res.idleAll, len(pipes))
	}

	// ------------------------------------------------------------ load --
	res.rssBefore, _, _ = benchkit.MemOf(o.cellPID)
	rss := startRSSSampler(o.cellPID, 250*time.Millisecond)
	cell0, err := readCPU(o.cellPID)
	if err != nil {
		return nil, err
	}
	gen0, _ := readCPU(0)
	period := time.Duration(float64(time.Second) / o.rate)
	start := time.Now().Add(100 * time.Millisecond)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		hooks    sync.WaitGroup // webhook calls in flight
	)
	logs := make([][]loadCommit, len(pipes))
	for i, p := range pipes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Pipelines are spread evenly over the period, not all at once.
			offset := period * time.Duration(i) / time.Duration(len(pipes))
			for k := range per {
				c := loadCommit{pipe: i, sched: start.Add(offset + time.Duration(k)*period)}
				if sleep(lctx, time.Until(c.sched)) != nil {
					return
				}
				var err error
				if c.sha, c.commitStart, err = p.repo.commit(lctx); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				c.committed = time.Now()
				// Open loop, as a forge sends its webhooks: the next commit
				// keeps its schedule however long the cell takes to answer
				// this one.
				hooks.Add(1)
				go func(c loadCommit) {
					defer hooks.Done()
					c.hookSent = time.Now()
					var err error
					c.hookStatus, err = b.webhook(lctx, p.hook)
					c.hookDone = time.Now()
					if err != nil {
						c.hookErr = err.Error()
					}
					mu.Lock()
					logs[i] = append(logs[i], c)
					mu.Unlock()
				}(c)
			}
		}()
	}
	wg.Wait()
	hooks.Wait()
	if firstErr != nil {
		rss.finish()
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		rss.finish()
		return nil, err
	}
	cell1, _ := readCPU(o.cellPID)
	gen1, _ := readCPU(0)
	for _, l := range logs {
		res.commits = append(res.commits, l...)
	}
	for _, c := range res.commits {
		if d := c.committed.Sub(start); d > res.commitSpan {
			res.commitSpan = d
		}
		if c.hookDone.After(res.loadEnd) {
			res.loadEnd = c.hookDone
		}
		if c.hookErr != "" {
			res.hookErrors++
			if res.firstHookErr == "" {
				res.firstHookErr = c.hookErr
			}
		}
	}
	res.loadWall = cell1.at.Sub(cell0.at)
	res.loadSelf, res.loadAll = cores(cell0, cell1)
	res.genSelf, res.genAll = cores(gen0, gen1)
	logf("3. %d commits made in %s; %d webhook errors; the cell used %.2f cores (%.2f with children); waiting for the builds",
		len(res.commits), res.loadWall.Round(time.Millisecond), res.hookErrors, res.loadSelf, res.loadAll)

	// ----------------------------------------------------------- drain --
	shas := make([][]string, len(pipes))
	for _, c := range res.commits {
		shas[c.pipe] = append(shas[c.pipe], c.sha)
	}
	final, err := b.drain(ctx, pipes, shas, res)
	if err != nil {
		rss.finish()
		return nil, err
	}
	cell2, _ := readCPU(o.cellPID)
	res.rssMax = rss.finish()
	res.rssEnd, res.rssHW, _ = benchkit.MemOf(o.cellPID)
	res.totalWall = cell2.at.Sub(cell0.at)
	res.totalSelf, res.totalAll = cores(cell0, cell2)

	// ----------------------------------------------------------- count --
	known := map[string]bool{}
	for i, p := range pipes {
		known[p.name+" "+p.first] = true
		for _, s := range shas[i] {
			known[p.name+" "+s] = true
		}
	}
	byKey := map[string][]paved.JobBuild{}
	for i, p := range pipes {
		for _, jb := range final[i] {
			res.builds++
			key := p.name + " " + jb.Inputs["repo"]
			byKey[key] = append(byKey[key], jb)
			if !known[key] {
				res.extra++
			}
			if jb.FinishedAt != nil && jb.Status != paved.BuildSucceeded {
				res.failed++
				if res.firstFailure == "" {
					res.firstFailure = fmt.Sprintf("%s #%d %s: %s", p.name, jb.Number, jb.Status, jb.Reason)
				}
			}
		}
		// The set-up build of the first commit must not run again either.
		if n := len(byKey[p.name+" "+p.first]); n > 1 {
			res.duplicates += n - 1
			res.dupExamples = append(res.dupExamples, fmt.Sprintf("%s %.8s (first commit) ×%d", p.name, p.first, n))
		}
	}
	for _, c := range res.commits {
		res.commitCall = append(res.commitCall, c.committed.Sub(c.commitStart))
		res.hookCall = append(res.hookCall, c.hookDone.Sub(c.hookSent))
		res.lag = append(res.lag, c.commitStart.Sub(c.sched))
		bs := byKey[pipes[c.pipe].name+" "+c.sha]
		switch {
		case len(bs) == 0:
			res.missing++
			continue
		case len(bs) > 1:
			res.duplicates += len(bs) - 1
			if len(res.dupExamples) < 5 {
				res.dupExamples = append(res.dupExamples, fmt.Sprintf("%s %.8s ×%d", pipes[c.pipe].name, c.sha, len(bs)))
			}
		}
		// The earliest start of the commit's builds.
		var first *time.Time
		for _, jb := range bs {
			if jb.StartedAt != nil && (first == nil || jb.StartedAt.Before(*first)) {
				first = jb.StartedAt
			}
			if jb.FinishedAt != nil {
				res.finished++
				if jb.Status == paved.BuildSucceeded {
					res.succeeded++
				}
			}
		}
		if first == nil {
			continue
		}
		res.started++
		res.fromCommit = append(res.fromCommit, first.Sub(c.commitStart))
		res.fromHook = append(res.fromHook, first.Sub(c.hookSent))
		if first.After(res.lastStart) {
			res.lastStart = *first
		}
	}
	logf("3. %d commits: %d builds started, %d missing, %d duplicates; p95 commit → start %s",
		len(res.commits), res.started, res.missing, res.duplicates, ms(percentile(res.fromCommit, 0.95)))
	return res, nil
}

// waitFirstBuilds waits until the first commit of every pipeline has a
// finished build.
func (b *bench) waitFirstBuilds(ctx context.Context, pipes []*loadPipe, within time.Duration) error {
	deadline := time.Now().Add(within)
	done := make([]bool, len(pipes))
	for {
		left := 0
		for i, p := range pipes {
			if done[i] {
				continue
			}
			bs, err := b.c.Pipelines.Builds(ctx, b.o.space, p.name, "build")
			if err != nil {
				return err
			}
			if jb, ok := buildOf(bs, p.first); ok && jb.FinishedAt != nil {
				done[i] = true
				continue
			}
			left++
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pipelines did not finish their first build within %s", left, len(pipes), within)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// drain waits until every commit's build has finished (every), or the
// newest commit's (latest), polling once a second the pipelines not done
// yet. It gives up after --drain, or when no build is pending or running
// and none appeared for 15 s (a build that never comes). It returns every
// pipeline's builds.
func (b *bench) drain(ctx context.Context, pipes []*loadPipe, shas [][]string, res *loadResult) ([][]paved.JobBuild, error) {
	final := make([][]paved.JobBuild, len(pipes))
	done := make([]bool, len(pipes))
	deadline := time.Now().Add(b.o.drain)
	lastCount, lastChange := -1, time.Now()
	for {
		left, busy, count := 0, 0, 0
		for i, p := range pipes {
			if done[i] {
				count += len(final[i])
				continue
			}
			bs, err := b.c.Pipelines.Builds(ctx, b.o.space, p.name, "build")
			if err != nil {
				return nil, err
			}
			final[i] = bs
			count += len(bs)
			finished := map[string]bool{}
			for _, jb := range bs {
				if jb.FinishedAt == nil {
					busy++
				} else {
					finished[jb.Inputs["repo"]] = true
				}
			}
			complete := true
			want := shas[i]
			if b.o.loadVersion == "latest" && len(want) > 0 {
				want = want[len(want)-1:]
			}
			for _, s := range want {
				if !finished[s] {
					complete = false
					break
				}
			}
			for _, jb := range bs {
				if jb.FinishedAt == nil {
					complete = false
				}
			}
			if complete {
				done[i] = true
			} else {
				left++
			}
		}
		if left == 0 {
			break
		}
		if count != lastCount {
			lastCount, lastChange = count, time.Now()
		}
		if busy == 0 && time.Since(lastChange) > 15*time.Second {
			res.drainNote = fmt.Sprintf("%d pipelines still lacked a build with nothing pending or running for 15 s", left)
			break
		}
		if time.Now().After(deadline) {
			res.drainTimedOut = true
			res.drainNote = fmt.Sprintf("%d pipelines were not done %s after the last commit (%d builds pending or running)", left, b.o.drain, busy)
			break
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	// A short settle, then the final count: a duplicate build would show up now.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	for i, p := range pipes {
		bs, err := b.c.Pipelines.Builds(ctx, b.o.space, p.name, "build")
		if err != nil {
			return nil, err
		}
		final[i] = bs
	}
	return final, nil
}

// parallel runs fn(0..n-1) on at most jobs goroutines and returns the first error.
func parallel(ctx context.Context, jobs, n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range min(jobs, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
