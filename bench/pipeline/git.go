package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// gitEnv keeps commits cheap and independent of the user's git set-up: a
// fixed identity, no system or global configuration (so no signing, hooks
// paths or auto-maintenance from there).
var gitEnv = append(os.Environ(),
	"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.test",
	"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.test",
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
)

// repo is a local git repository the benchmark commits to.
type repo struct {
	dir string
	n   int // commits made by commit
}

func runGit(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s in %s: %v: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// newRepo makes a repository on branch main with one empty commit and
// returns it with that commit.
func newRepo(ctx context.Context, dir string) (*repo, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	r := &repo{dir: dir}
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=main"},
		{"config", "gc.auto", "0"},
		{"config", "maintenance.auto", "false"},
		{"config", "commit.gpgsign", "false"},
		{"commit", "--allow-empty", "-q", "-m", "0"},
	} {
		if _, err := runGit(ctx, dir, args...); err != nil {
			return nil, "", err
		}
	}
	sha, err := r.head(ctx)
	return r, sha, err
}

// commit makes an empty commit. It returns its sha and the moment just
// before the git command ran.
func (r *repo) commit(ctx context.Context) (sha string, before time.Time, err error) {
	r.n++
	cmd := exec.CommandContext(ctx, "git", "commit", "--allow-empty", "-q", "-m", fmt.Sprint(r.n))
	cmd.Dir = r.dir
	cmd.Env = gitEnv
	var errb bytes.Buffer
	cmd.Stderr = &errb
	before = time.Now()
	if err := cmd.Run(); err != nil {
		return "", before, fmt.Errorf("git commit in %s: %v: %s", r.dir, err, strings.TrimSpace(errb.String()))
	}
	sha, err = r.head(ctx)
	return sha, before, err
}

// head reads the branch's loose ref (no process), else asks git.
func (r *repo) head(ctx context.Context) (string, error) {
	if b, err := os.ReadFile(filepath.Join(r.dir, ".git", "refs", "heads", "main")); err == nil {
		if sha := strings.TrimSpace(string(b)); len(sha) == 40 {
			return sha, nil
		}
	}
	return runGit(ctx, r.dir, "rev-parse", "HEAD")
}
