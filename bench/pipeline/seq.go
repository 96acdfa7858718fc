package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// seqSample is one commit of parts 1 and 2, made after the previous one's
// build started.
type seqSample struct {
	sha                    string
	commitStart, committed time.Time // just before `git commit` ran; after it and the sha read
	hookSent, hookDone     time.Time // zero without a webhook
	started                time.Time // the build's StartedAt (the cell's clock, same machine)
	number                 int
}

func (s seqSample) fromCommit() time.Duration { return s.started.Sub(s.commitStart) }
func (s seqSample) fromHook() time.Duration   { return s.started.Sub(s.hookSent) }

// seqResult is part 1 (webhook) or part 2 (polling).
type seqResult struct {
	pipeline   string
	checkEvery time.Duration
	webhook    bool
	samples    []seqSample
	// every build of the job, counted per commit at the end
	builds, duplicates, missing, failed int
	firstFailure                        string
}

func (r *seqResult) durations(f func(seqSample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		out[i] = f(s)
	}
	return out
}

// webhookPart: commit, webhook, wait for the build to start; K times.
func (b *bench) webhookPart(ctx context.Context) (*seqResult, error) {
	o := b.o
	logf("1. webhook: %d commits, each followed by its webhook (check_every 1h)", o.webhookCommits)
	return b.sequential(ctx, "hook", time.Hour, true, o.webhookCommits, func() time.Duration { return o.gap })
}

// pollPart: commit at a random phase of the poll, wait for the build to start; K times.
func (b *bench) pollPart(ctx context.Context) (*seqResult, error) {
	o := b.o
	logf("2. polling: %d commits, no webhook (check_every %s)", o.pollCommits, o.pollEvery)
	return b.sequential(ctx, "poll", o.pollEvery, false, o.pollCommits, func() time.Duration {
		// A uniform phase of the poll, whose period is check_every + a tick (see the report).
		return rand.N(o.pollEvery + engineTick)
	})
}

func (b *bench) sequential(ctx context.Context, name string, checkEvery time.Duration, hook bool, commits int, pause func() time.Duration) (*seqResult, error) {
	o := b.o
	r, first, err := newRepo(ctx, filepath.Join(o.work, name))
	if err != nil {
		return nil, err
	}
	p, err := b.c.Pipelines.Set(ctx, o.space, pipelineSpec(name, r.dir, checkEvery, "", max(100, commits+10)))
	if err != nil {
		return nil, fmt.Errorf("set pipeline %s: %w", name, err)
	}
	wh, ok := p.Webhooks["repo"]
	if hook && (!ok || wh.Path == "" || wh.Token == "") {
		return nil, fmt.Errorf("pipeline %s has no webhook for source repo: %+v", name, p.Webhooks)
	}
	// The source's first check builds the repository's head: wait for it,
	// so the measured commits start from a quiet pipeline.
	if _, err := b.waitStarted(ctx, name, first); err != nil {
		return nil, fmt.Errorf("the first build: %w", err)
	}
	res := &seqResult{pipeline: name, checkEvery: checkEvery, webhook: hook}
	shas := []string{first}
	for i := range commits {
		if err := sleep(ctx, pause()); err != nil {
			return nil, err
		}
		var s seqSample
		if s.sha, s.commitStart, err = r.commit(ctx); err != nil {
			return nil, err
		}
		s.committed = time.Now()
		if hook {
			s.hookSent = time.Now()
			if _, err := b.webhook(ctx, wh); err != nil {
				return nil, fmt.Errorf("commit %d: %w", i+1, err)
			}
			s.hookDone = time.Now()
		}
		jb, err := b.waitStarted(ctx, name, s.sha)
		if err != nil {
			return nil, fmt.Errorf("commit %d: %w", i+1, err)
		}
		s.started, s.number = *jb.StartedAt, jb.Number
		res.samples = append(res.samples, s)
		shas = append(shas, s.sha)
		if hook {
			logf("1. commit %d/%d %.8s: build #%d started %s after the commit, %s after the webhook",
				i+1, commits, s.sha, s.number, ms(s.fromCommit()), ms(s.fromHook()))
		} else {
			logf("2. commit %d/%d %.8s: build #%d started %s after the commit", i+1, commits, s.sha, s.number, ms(s.fromCommit()))
		}
	}
	// Let the last build finish, count builds per commit, and delete the
	// pipeline so that it costs nothing in the next parts.
	bs, err := b.waitFinished(ctx, name, 30*time.Second)
	if err != nil {
		return nil, err
	}
	res.builds = len(bs)
	res.duplicates, res.missing, res.failed, res.firstFailure = countBuilds(bs, shas)
	if err := b.c.Pipelines.Delete(ctx, o.space, name); err != nil {
		return nil, fmt.Errorf("delete pipeline %s: %w", name, err)
	}
	return res, nil
}

// waitFinished waits (up to within) until no build of the job is pending
// or running and returns the builds.
func (b *bench) waitFinished(ctx context.Context, pipeline string, within time.Duration) ([]paved.JobBuild, error) {
	deadline := time.Now().Add(within)
	for {
		bs, err := b.c.Pipelines.Builds(ctx, b.o.space, pipeline, "build")
		if err != nil {
			return nil, err
		}
		busy := 0
		for _, jb := range bs {
			if jb.FinishedAt == nil {
				busy++
			}
		}
		if busy == 0 || time.Now().After(deadline) {
			return bs, nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// countBuilds checks that every sha has exactly one build: duplicates are
// extra builds of a sha, missing are shas without one, failed are builds
// that did not succeed (finished or not).
func countBuilds(bs []paved.JobBuild, shas []string) (duplicates, missing, failed int, firstFailure string) {
	per := map[string]int{}
	for _, jb := range bs {
		per[jb.Inputs["repo"]]++
		if jb.Status != paved.BuildSucceeded {
			failed++
			if firstFailure == "" {
				firstFailure = fmt.Sprintf("#%d %s %s", jb.Number, jb.Status, jb.Reason)
			}
		}
	}
	for _, sha := range shas {
		switch n := per[sha]; {
		case n == 0:
			missing++
		case n > 1:
			duplicates += n - 1
		}
	}
	return duplicates, missing, failed, firstFailure
}
