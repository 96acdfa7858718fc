package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/testcell"
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
		dir := filepath.Dir(tests)
		t.Run(filepath.Base(dir), func(t *testing.T) {
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
