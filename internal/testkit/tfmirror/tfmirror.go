// Package tfmirror installs the provider built from this repository the
// way a user's CLI installs a provider: from a filesystem mirror, not
// dev_overrides, so init runs as it would (lock file and module
// installation included).
package tfmirror

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// hosts are the names each CLI gives "pavedroad/paved": OpenTofu's
// registry.opentofu.org and Terraform's registry.terraform.io.
var hosts = []string{"registry.opentofu.org", "registry.terraform.io"}

// Build builds the provider of the module at root into a filesystem
// mirror under work, as pavedroad/paved at version under both hosts, and
// writes a CLI config (its path is returned) that installs pavedroad/paved
// from there and nothing from the network.
func Build(root, work, version string) (string, error) {
	mirror := filepath.Join(work, "mirror")
	var built string
	var include []string
	for _, host := range hosts {
		include = append(include, fmt.Sprintf("%q", host+"/pavedroad/paved"))
		dir := filepath.Join(mirror, host, "pavedroad", "paved", version, runtime.GOOS+"_"+runtime.GOARCH)
		bin := filepath.Join(dir, "terraform-provider-paved_v"+version)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if built != "" {
			if err := os.Link(built, bin); err != nil {
				return "", err
			}
			continue
		}
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build the provider: %w\n%s", err, out)
		}
		built = bin
	}
	list := strings.Join(include, ", ")
	cfg := filepath.Join(work, "tofurc")
	body := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = [%s]
  }
  direct {
    exclude = [%s]
  }
}
`, mirror, list, list)
	return cfg, os.WriteFile(cfg, []byte(body), 0o644)
}
