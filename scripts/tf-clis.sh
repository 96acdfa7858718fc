#!/usr/bin/env bash
# tf-clis.sh — the Terraform-protocol CLIs the tests run on, one per line as
# "NAME PATH VERSION": OpenTofu (built and cached by install-tofu.sh) and
# Terraform ($TF_CLI, else `terraform` on PATH). A missing Terraform is said
# loudly on stderr and its leg is left out; it never passes silently.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version() { TF_CLI_CONFIG_FILE=/dev/null "$1" version -json 2>/dev/null | sed -n 's/^ *"terraform_version": "\(.*\)",*$/\1/p'; }
tofu=$("$here/install-tofu.sh")
echo "tofu $tofu $(version "$tofu")"
tf=${TF_CLI:-$(command -v terraform || true)}
if [ -z "$tf" ] || ! TF_CLI_CONFIG_FILE=/dev/null "$tf" version >/dev/null 2>&1; then
  {
    echo "################################################################"
    echo "# NO TERRAFORM CLI: the Terraform legs of the tests do not run."
    echo "# Put terraform on PATH or set TF_CLI=/path/to/terraform."
    echo "################################################################"
  } >&2
  exit 0
fi
echo "terraform $tf $(version "$tf")"
