package tests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/files"
	"github.com/gruntwork-io/terratest/modules/terraform"
	test_structure "github.com/gruntwork-io/terratest/modules/test-structure"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// The example suites run in terratest's test stages, so a developer can
// iterate on one stage: SKIP_destroy=1 keeps the cell, the state and the
// apps after a run; a later run with SKIP_cell=1 SKIP_apply=1 (and
// SKIP_destroy=1 again, or not to clean up at last) reuses them. Stages:
//
//	cell     start a cell (else: reuse the kept one)
//	apply    copy the example, tofu init and apply it, re-plan (no changes)
//	check    the example's HTTP checks
//	destroy  tofu destroy, assert nothing runs, stop the cell
//
// Without SKIP_* variables each run starts from scratch in temp dirs.

// keeping reports whether any stage is being skipped, i.e. the developer
// iterates and state must survive between runs.
func keeping() bool {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SKIP_") {
			return true
		}
	}
	return false
}

// stageDir is where a test keeps what its stages share: a fresh temp dir,
// or, when iterating, $TMPDIR/paved-tests/<test> across runs.
func stageDir(t *testing.T) string {
	if !keeping() {
		return t.TempDir()
	}
	dir := filepath.Join(os.TempDir(), "paved-tests", t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// exampleRun is one example applied to one cell through its stages.
type exampleRun struct {
	t    *testing.T
	dir  string // stage dir
	cell *testcell.Cell
	opts *terraform.Options
}

// runExample goes through the stages for examples/<name>; check gets the
// applied example.
func runExample(t *testing.T, name string, vars map[string]any, check func(*exampleRun)) {
	ctx := context.Background()
	r := &exampleRun{t: t, dir: stageDir(t)}
	test_structure.RunTestStage(t, "cell", func() {
		c, err := testcell.Launch(testcell.Options{Dir: filepath.Join(r.dir, "cell")})
		if err != nil {
			t.Fatal(err)
		}
		test_structure.SaveString(t, r.dir, "endpoint", c.Endpoint)
		test_structure.SaveString(t, r.dir, "router", c.RouterAddr)
		test_structure.SaveString(t, r.dir, "token", c.Token)
		r.cell = c
	})
	if r.cell == nil {
		c, err := testcell.Attach(test_structure.LoadString(t, r.dir, "endpoint"),
			test_structure.LoadString(t, r.dir, "router"), test_structure.LoadString(t, r.dir, "token"))
		if err != nil {
			t.Fatal(err)
		}
		r.cell = c
	}
	if os.Getenv("SKIP_destroy") == "" {
		// Whatever fails, the cell goes at the end (the destroy stage
		// checks that nothing runs first).
		t.Cleanup(r.cell.Stop)
	} else {
		t.Logf("SKIP_destroy: keeping the cell at %s (router %s, token %s) and the state in %s",
			r.cell.Endpoint, r.cell.RouterAddr, r.cell.Token, r.dir)
	}

	test_structure.RunTestStage(t, "apply", func() {
		dir := copyExample(t, name, r.dir)
		opts := &terraform.Options{
			TerraformDir:    dir,
			TerraformBinary: tofuBin,
			Vars:            vars,
			EnvVars:         r.env(),
			NoColor:         true,
		}
		test_structure.SaveTerraformOptions(t, r.dir, opts)
		// Apply, then plan again: no changes.
		terraform.InitAndApplyAndIdempotentContext(t, ctx, opts)
	})
	r.opts = test_structure.LoadTerraformOptions(t, r.dir)
	r.opts.EnvVars = r.env() // the cell may be another one than at apply

	test_structure.RunTestStage(t, "check", func() { check(r) })

	test_structure.RunTestStage(t, "destroy", func() {
		terraform.DestroyContext(t, ctx, r.opts)
		r.assertNothingRuns()
	})
}

// copyExample copies examples/ and modules/ side by side into dest (so an
// example's relative sources, ../hello and ../../modules/…, resolve) without
// state, .terraform or hidden files, and returns the example's directory.
func copyExample(t *testing.T, name, dest string) string {
	t.Helper()
	keep := func(path string) bool {
		return !files.PathContainsHiddenFileOrFolder(path) && !files.PathContainsTerraformState(path)
	}
	for _, dir := range []string{"examples", "modules"} {
		if err := files.CopyFolderContentsWithFilter(filepath.Join(repoRoot(), dir), filepath.Join(dest, dir), keep); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dest, "examples", name)
}

func (r *exampleRun) env() map[string]string {
	return map[string]string{
		"TF_CLI_CONFIG_FILE": cliConfig,
		"PAVED_ENDPOINT":     r.cell.Endpoint,
		"PAVED_TOKEN":        r.cell.Token,
	}
}

// output reads a string output of the applied example.
func (r *exampleRun) output(name string) string {
	return terraform.OutputContext(r.t, context.Background(), r.opts, name)
}

// get asks the cell's router for path on host, retrying until the answer
// is a 200 whose body contains want.
func (r *exampleRun) get(host, path, want string, within time.Duration) {
	r.t.Helper()
	eventually(r.t, within, "GET "+host+path+" answers "+want, func() error {
		return httpContains(r.cell.RouterAddr, host, path, want)
	})
}

// assertNothingRuns fails unless the cell runs no app and no instance.
func (r *exampleRun) assertNothingRuns() {
	ctx := context.Background()
	eventually(r.t, 30*time.Second, "nothing runs after destroy", func() error {
		return cellIsEmpty(ctx, r.cell)
	})
}
