package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/hex"
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
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(errb.String()))
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

// commitWith picks how commit makes its commits: "objects" (the default)
// writes the commit object and the branch ref itself, "git" runs
// `git commit --allow-empty`. Both make the same kind of commit, which the
// cell fetches with git either way; writing it in-process costs tens of
// microseconds instead of a git process (tens of milliseconds of CPU),
// so that on a small machine the generator can offer the load it is asked
// for without taking the CPU the cell is being measured on.
var commitWith = "objects"

// commit makes an empty commit on main. It returns its sha and the
// moment just before the commit was made.
func (r *repo) commit(ctx context.Context) (sha string, before time.Time, err error) {
	r.n++
	if commitWith == "objects" {
		before = time.Now()
		sha, err = r.writeCommit()
		return sha, before, err
	}
	cmd := exec.CommandContext(ctx, "git", "commit", "--allow-empty", "-q", "-m", fmt.Sprint(r.n))
	cmd.Dir = r.dir
	cmd.Env = gitEnv
	var errb bytes.Buffer
	cmd.Stderr = &errb
	before = time.Now()
	if err := cmd.Run(); err != nil {
		return "", before, fmt.Errorf("git commit in %s: %w: %s", r.dir, err, strings.TrimSpace(errb.String()))
	}
	sha, err = r.head(ctx)
	return sha, before, err
}

// emptyTree is the id of the empty tree, git's "tree 0\x00" object.
const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// writeCommit writes an empty commit on top of main the way git stores
// one: a zlib-compressed loose object named by the sha1 of "commit LEN\0"
// and the commit text, then the branch's loose ref, replaced by rename
// from main.lock as git does (nothing else writes to these repositories).
func (r *repo) writeCommit() (string, error) {
	parent, err := os.ReadFile(filepath.Join(r.dir, ".git", "refs", "heads", "main"))
	if err != nil {
		return "", fmt.Errorf("read main of %s: %w", r.dir, err)
	}
	if _, err := r.writeObject("tree", nil); err != nil {
		return "", err
	}
	now := time.Now().Unix()
	body := fmt.Sprintf("tree %s\nparent %s\nauthor bench <bench@example.test> %d +0000\ncommitter bench <bench@example.test> %d +0000\n\n%d\n",
		emptyTree, strings.TrimSpace(string(parent)), now, now, r.n)
	sha, err := r.writeObject("commit", []byte(body))
	if err != nil {
		return "", err
	}
	ref := filepath.Join(r.dir, ".git", "refs", "heads", "main")
	if err := os.WriteFile(ref+".lock", []byte(sha+"\n"), 0o644); err != nil {
		return "", err
	}
	return sha, os.Rename(ref+".lock", ref)
}

// writeObject stores a loose object unless it is there, and returns its id.
func (r *repo) writeObject(kind string, body []byte) (string, error) {
	raw := append([]byte(fmt.Sprintf("%s %d\x00", kind, len(body))), body...)
	sum := sha1.Sum(raw)
	id := hex.EncodeToString(sum[:])
	path := filepath.Join(r.dir, ".git", "objects", id[:2], id[2:])
	if _, err := os.Stat(path); err == nil {
		return id, nil
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(raw); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, z.Bytes(), 0o444); err != nil {
		return "", err
	}
	return id, os.Rename(tmp, path)
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
