#!/usr/bin/env bash
# install-tofu.sh — build OpenTofu from the Go module proxy once and cache it
# by version outside the repo; print the binary's path. No registry here
# ships a Terraform CLI binary, and OpenTofu speaks the same plugin protocol.
# 1.12 rather than the 1.10 DESIGN.md names: it supports write-only
# attributes (secret_env), which 1.10 does not.
set -euo pipefail
VERSION=${TOFU_VERSION:-1.12.6}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/paved/tofu/$VERSION
BIN=$CACHE/tofu
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
echo "building OpenTofu $VERSION from the Go module proxy (about 5 minutes, once)…" >&2
mkdir -p "$CACHE"
SRC=$(go mod download -json "github.com/opentofu/opentofu@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$SRC" ] || { echo "could not download OpenTofu v$VERSION" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cp -r "$SRC"/. "$WORK"/
chmod -R u+w "$WORK"
( cd "$WORK" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
    -o "$BIN.tmp" ./cmd/tofu )
mv "$BIN.tmp" "$BIN"
"$BIN" version >&2
echo "$BIN"
