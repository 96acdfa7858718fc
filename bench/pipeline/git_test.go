package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// Commits written in-process are commits git reads, checks and fetches.
func TestWriteCommitIsAGitCommit(t *testing.T) {
	ctx := context.Background()
	r, first, err := newRepo(ctx, filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatalf("creating the repository with git: %v", err)
	}
	var shas []string
	for range 3 {
		sha, _, err := r.commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		shas = append(shas, sha)
	}
	if head, err := runGit(ctx, r.dir, "rev-parse", "HEAD"); err != nil || head != shas[2] {
		t.Fatalf("HEAD %q %v, want %s", head, err, shas[2])
	}
	log, err := runGit(ctx, r.dir, "log", "--format=%H %P")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{shas[2] + " " + shas[1], shas[1] + " " + shas[0], shas[0] + " " + first, first + " "}, "\n")
	if strings.TrimSpace(log) != strings.TrimSpace(want) {
		t.Fatalf("git log:\n%s\nwant:\n%s", log, want)
	}
	if out, err := runGit(ctx, r.dir, "fsck", "--strict"); err != nil {
		t.Fatalf("git fsck: %v %s", err, out)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if _, err := runGit(ctx, filepath.Dir(clone), "clone", "-q", r.dir, clone); err != nil {
		t.Fatal(err)
	}
	if head, err := runGit(ctx, clone, "rev-parse", "HEAD"); err != nil || head != shas[2] {
		t.Fatalf("the clone's HEAD %q %v, want %s", head, err, shas[2])
	}
}
