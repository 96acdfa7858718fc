// Package tests holds the terratest suites: each applies a runnable example
// from examples/ with the real OpenTofu CLI and the provider built from this
// repository, against real cells the test starts, checks it over HTTP,
// re-plans, and destroys it, asserting nothing is left running.
//
// It is its own Go module, so terratest's dependency tree stays out of the
// provider's go.mod. `make test` runs it; alone:
//
//	cd tests && go test -count=1 -v -timeout 30m ./...
//
// TF_CLI names the CLI to run, OpenTofu or Terraform (default: the OpenTofu
// of scripts/install-tofu.sh, which builds and caches it; `make terratest`
// runs the suites once per CLI of scripts/tf-clis.sh), PAVED_BIN the paved
// binary (default: built once).
package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/tfmirror"
)

// providerVersion is the version the locally built provider is offered
// under in the test's filesystem mirror; examples ask for ">= 0.1".
const providerVersion = "0.1.0"

var (
	tofuBin   string // the CLI: OpenTofu or Terraform (TF_CLI)
	cliConfig string // TF_CLI_CONFIG_FILE pointing the CLI at the local provider
	work      string // the suites' shared scratch directory, removed after the last test
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	root := repoRoot()
	var err error
	if tofuBin = os.Getenv("TF_CLI"); tofuBin == "" {
		out, err := exec.Command(filepath.Join(root, "scripts", "install-tofu.sh")).Output()
		if err != nil {
			return 0, fmt.Errorf("install OpenTofu: %w", err)
		}
		tofuBin = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(tofuBin, "version").Output(); err == nil {
		fmt.Fprintf(os.Stderr, "tests: CLI %s: %s\n", tofuBin, strings.SplitN(string(out), "\n", 2)[0])
	} else {
		return 0, fmt.Errorf("the CLI %s does not run: %w", tofuBin, err)
	}
	if _, err := testcell.Binary(); err != nil {
		return 0, err
	}
	work, err = os.MkdirTemp("", "paved-terratest")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)
	if cliConfig, err = tfmirror.Build(root, work, providerVersion); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}
