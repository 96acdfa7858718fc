package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
)

// TestPipeline applies examples/pipeline to its own cell, which creates a git
// repository and the pipeline shipping it; then a commit to the repository
// must reach the app through test, preview, canary and check.
func TestPipeline(t *testing.T) {
	t.Parallel()
	var repo string
	runExample(t, "pipeline", nil, func(r *exampleRun) {
		repo = r.output("repository")
		host := r.output("host")
		r.get(host, "/", "hello from paved", time.Minute)

		main := filepath.Join(repo, "main.go")
		src, err := os.ReadFile(main)
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(string(src), `"hello from paved"`, `"hello from a commit"`, 1)
		if changed == string(src) {
			t.Fatal("examples/hello no longer says \"hello from paved\"; update this test")
		}
		if err := os.WriteFile(main, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, repo, "-c", "user.name=paved tests", "-c", "user.email=tests@paved.invalid", "commit", "-q", "-am", "say hello from a commit")
		r.get(host, "/", "hello from a commit", 4*time.Minute)
	})
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// terraformOutputMap reads a map output of the applied example into m.
func terraformOutputMap(r *exampleRun, name string, m map[string]string) {
	for k, v := range terraform.OutputMapContext(r.t, context.Background(), r.opts, name) {
		m[k] = v
	}
}
