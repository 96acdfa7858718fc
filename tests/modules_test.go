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
// whose pipeline watches one.
func helloRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(repoRoot(), "examples", "hello")
	for _, name := range []string{"main.go", "go.mod", "Procfile"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "."},
		{"-c", "user.name=paved tests", "-c", "user.email=tests@paved.invalid", "commit", "-q", "-m", "hello"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
