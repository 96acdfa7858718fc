#!/usr/bin/env bash
# install-golangci-lint.sh — build golangci-lint from the Go module proxy once
# and cache it by version outside the repo; print the binary's path.
set -euo pipefail
VERSION=${GOLANGCI_LINT_VERSION:-v2.15.0}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/paved/golangci-lint/$VERSION
BIN=$CACHE/golangci-lint
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
echo "building golangci-lint $VERSION from the Go module proxy (a few minutes, once)…" >&2
mkdir -p "$CACHE"
GOBIN="$CACHE" CGO_ENABLED=0 go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$VERSION"
"$BIN" version >&2
echo "$BIN"
