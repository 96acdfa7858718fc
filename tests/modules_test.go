package tests

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// TestModules runs every module's `tofu test` suite (modules/*/tests): the
// plan-mode tests of its logic and validation, and its apply test against
// real cells started here: one cell for the single-cell modules, two (eu,
// us) for multicloud-app. Each apply test destroys what it made.
func TestModules(t *testing.T) {
	one := testcell.Start(t)
	eu := testcell.StartWith(t, testcell.Options{Region: "eu"})
	us := testcell.StartWith(t, testcell.Options{Region: "us"})
	repo := helloRepo(t)
	env := []string{
		"TF_CLI_CONFIG_FILE=" + cliConfig,
		"TF_IN_AUTOMATION=1",
		"PAVED_ENDPOINT=" + one.Endpoint,
		"PAVED_TOKEN=" + one.Token, // every test cell has the same token
		"PAVED_REGIONS=eu=" + eu.Endpoint + ",us=" + us.Endpoint,
		"TF_VAR_repository=" + repo,
	}
	modules, err := filepath.Glob(filepath.Join(repoRoot(), "modules", "*", "tests"))
	if err != nil || len(modules) == 0 {
		t.Fatalf("no module tests found: %v", err)
	}
	for _, tests := range modules {
		src := filepath.Dir(tests)
		t.Run(filepath.Base(src), func(t *testing.T) {
			// A copy, so that init writes no .terraform or lock file into
			// the source tree (a stale lock file would not match the next
			// provider build). The module tests push examples/hello, by a
			// path relative to the module: it is copied beside it.
			root := t.TempDir()
			dir := filepath.Join(root, "modules", filepath.Base(src))
			copyTree(t, src, dir)
			copyTree(t, filepath.Join(repoRoot(), "examples", "hello"), filepath.Join(root, "examples", "hello"))
			tofu(t, dir, env, "init", "-input=false", "-no-color")
			out := tofu(t, dir, env, "test", "-no-color")
			if !strings.Contains(out, "Success!") {
				t.Fatalf("tofu test did not report success:\n%s", out)
			}
			t.Log(lastLine(out))
		})
	}
}

// tofu runs the OpenTofu CLI in dir and fails the test with its output.
func tofu(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tofuBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tofu %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// helloRepo makes a git repository holding examples/hello, for modules
// whose pipeline watches one, with the script examples/pipeline uses.
func helloRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	script := filepath.Join(repoRoot(), "examples", "pipeline", "make-repo.sh")
	if out, err := exec.Command(script, dir, filepath.Join(repoRoot(), "examples", "hello")).CombinedOutput(); err != nil {
		t.Fatalf("make-repo.sh: %v\n%s", err, out)
	}
	return dir
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// copyTree copies the files under src to dst, leaving out .terraform
// directories and lock files left by a run in place.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".terraform" || d.Name() == ".terraform.lock.hcl" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}
