package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// check asks a source for new versions and records them. Concurrent
// checks of one source (a webhook per commit, the poll) share runs: a
// caller gets the result of a check that started after it asked (see
// coalescer). A shared run belongs to the pipeline, not to one caller: it
// runs on the pipeline loop's context, so a webhook caller that hangs up
// does not fail the check for the others.
func (e *Engine) check(l *loop, p store.Pipeline, src paved.SourceSpec) error {
	l.checkMu.Lock()
	co := l.checks[src.Name]
	if co == nil {
		co = &coalescer{}
		l.checks[src.Name] = co
	}
	l.checkMu.Unlock()
	return co.do(func() error { return e.checkNow(l.ctx, l, p, src) })
}

// checkNow is one check of a source.
func (e *Engine) checkNow(ctx context.Context, l *loop, p store.Pipeline, src paved.SourceSpec) error {
	l.checkMu.Lock()
	defer l.checkMu.Unlock()
	l.lastCheck[src.Name] = time.Now()
	switch src.Type {
	case paved.SourceGit:
		return e.checkGit(ctx, l, p, src)
	case paved.SourceSemver:
		vs, err := e.opts.Store.ListVersions(ctx, p.ID, src.Name)
		if err != nil || len(vs) > 0 {
			return err
		}
		initial := src.Initial
		if initial == "" {
			initial = "0.0.0"
		}
		_, _, err = e.opts.Store.AddVersion(ctx, p.ID, src.Name, initial, "initial version")
		return err
	case paved.SourceTime:
		vs, err := e.opts.Store.ListVersions(ctx, p.ID, src.Name)
		if err != nil {
			return err
		}
		if len(vs) == 0 || time.Since(vs[len(vs)-1].CreatedAt) >= src.Interval.D() {
			now := time.Now().UTC().Format(time.RFC3339Nano)
			_, _, err = e.opts.Store.AddVersion(ctx, p.ID, src.Name, now, "tick")
		}
		return err
	case paved.SourceAppRelease:
		a, err := e.opts.Store.GetApp(ctx, p.Space, src.App)
		if err != nil {
			return err
		}
		rel, what := a.State.LastGoodRelease, "good release of "
		if src.Gate { // a gate sees releases that rolled out healthy and decides whether they are good
			rel, what = a.State.HealthyRelease, "healthy release of "
		}
		if rel == 0 {
			return nil
		}
		_, _, err = e.opts.Store.AddVersion(ctx, p.ID, src.Name, strconv.Itoa(rel), what+src.App)
		return err
	}
	return fmt.Errorf("unknown source type %q", src.Type)
}

// mirror is the pipeline's bare mirror of a git source.
func (e *Engine) mirror(p store.Pipeline, src paved.SourceSpec) string {
	return e.dir(fmt.Sprint(p.ID), "sources", src.Name+".git")
}

// checkGit fetches the source into a mirror and records every new commit
// on the branch (that touches the paths, when given), oldest first.
func (e *Engine) checkGit(ctx context.Context, l *loop, p store.Pipeline, src paved.SourceSpec) error {
	m := e.mirror(p, src)
	if _, err := os.Stat(m); err != nil {
		if err := os.MkdirAll(e.dir(fmt.Sprint(p.ID), "sources"), 0o755); err != nil {
			return err
		}
		if _, err := git(ctx, "", "clone", "--quiet", "--mirror", src.URI, m); err != nil {
			return err
		}
		l.mirrorURI[src.Name] = src.URI
	} else {
		// The URI may have changed with the pipeline: point the mirror at
		// it (once per change, not on every check: a check is a few git
		// processes, and a busy cell runs many).
		if l.mirrorURI[src.Name] != src.URI {
			if _, err := git(ctx, m, "remote", "set-url", "origin", src.URI); err != nil {
				return err
			}
			l.mirrorURI[src.Name] = src.URI
		}
		if _, err := git(ctx, m, "fetch", "--quiet", "--prune", "origin"); err != nil {
			return err
		}
	}
	branch := src.Branch
	if branch == "" {
		branch = "main"
	}
	head, err := git(ctx, m, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	if err != nil {
		return fmt.Errorf("branch %q not found in %s", branch, src.URI)
	}
	known, err := e.opts.Store.ListVersions(ctx, p.ID, src.Name)
	if err != nil {
		return err
	}
	// One git log lists the new commits with their subjects, oldest first
	// (each line "SHA SUBJECT").
	args := []string{"log", "--reverse", "--format=%H %s"}
	if len(known) == 0 {
		args = append(args, "-1", head) // a new source starts at its head
	} else {
		last := known[len(known)-1].Version
		if last == head {
			return nil
		}
		if _, err := git(ctx, m, "merge-base", "--is-ancestor", last, head); err == nil {
			args = append(args, last+".."+head)
		} else {
			args = append(args, "-1", head) // history was rewritten: take the new head
		}
	}
	if len(src.Paths) > 0 {
		args = append(args, "--")
		args = append(args, src.Paths...)
	}
	out, err := git(ctx, m, args...)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		sha, subject, _ := strings.Cut(line, " ")
		if sha == "" {
			continue
		}
		if _, _, err := e.opts.Store.AddVersion(ctx, p.ID, src.Name, sha, subject); err != nil {
			return err
		}
	}
	return nil
}

// git runs the git CLI and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// bump returns v with one part raised.
func bump(v, part string) (string, error) {
	sv, err := version.NewSemver(v)
	if err != nil {
		return "", err
	}
	seg := sv.Segments()
	for len(seg) < 3 {
		seg = append(seg, 0)
	}
	switch part {
	case "major":
		seg = []int{seg[0] + 1, 0, 0}
	case "minor":
		seg = []int{seg[0], seg[1] + 1, 0}
	default:
		seg = []int{seg[0], seg[1], seg[2] + 1}
	}
	return fmt.Sprintf("%d.%d.%d", seg[0], seg[1], seg[2]), nil
}
