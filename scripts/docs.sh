#!/usr/bin/env bash
# docs.sh — regenerate docs/ with tfplugindocs from the provider's real
# schema (read with `tofu providers schema -json` through a dev override, so
# nothing is fetched). `make docs` runs it; CI fails when it leaves a diff.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/paved
DOCS_VERSION=0.25.0
TFPLUGINDOCS=$CACHE/tfplugindocs/$DOCS_VERSION/tfplugindocs
if [ ! -x "$TFPLUGINDOCS" ]; then
  echo "installing tfplugindocs $DOCS_VERSION (once)…" >&2
  GOBIN=$(dirname "$TFPLUGINDOCS") go install "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs@v$DOCS_VERSION"
fi
TOFU=$(./scripts/install-tofu.sh)
go build -o bin/terraform-provider-paved .

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/dev.tofurc" <<RC
provider_installation {
  dev_overrides {
    "registry.opentofu.org/pavedroad/paved" = "$ROOT/bin"
  }
  direct {}
}
RC
cat >"$WORK/main.tf" <<'TF'
terraform {
  required_providers {
    paved = { source = "pavedroad/paved" }
  }
}
TF
# tfplugindocs looks the schema up by the provider's short name.
(cd "$WORK" && TF_CLI_CONFIG_FILE="$WORK/dev.tofurc" "$TOFU" providers schema -json 2>/dev/null) |
  sed 's#"registry.opentofu.org/pavedroad/paved"#"paved"#' >"$WORK/schema.json"
"$TFPLUGINDOCS" generate --provider-name paved --rendered-provider-name paved \
  --providers-schema "$WORK/schema.json" --examples-dir examples --rendered-website-dir docs
