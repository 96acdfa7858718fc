#!/usr/bin/env bash
# install-pulumi.sh — build the Pulumi CLI from the Go module proxy once and
# cache it by version outside the repo; print the binary's path. No registry
# reachable here ships Pulumi binaries. pkg/ and sdk/ of one version are
# copied side by side (pkg's go.mod replaces sdk with ../sdk), then
# cmd/pulumi is built in pkg/ with the version stamped in, so that the
# Automation API's version check passes. About 8 minutes on 2 cores, once.
set -euo pipefail
VERSION=${PULUMI_VERSION:-3.274.1}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/paved/pulumi/$VERSION
BIN=$CACHE/pulumi
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
echo "building the Pulumi CLI $VERSION from the Go module proxy (about 8 minutes, once)…" >&2
mkdir -p "$CACHE"
dir_of() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }
PKG=$(dir_of "github.com/pulumi/pulumi/pkg/v3@v$VERSION")
SDK=$(dir_of "github.com/pulumi/pulumi/sdk/v3@v$VERSION")
[ -d "$PKG" ] && [ -d "$SDK" ] || { echo "could not download Pulumi v$VERSION" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cp -r "$PKG" "$WORK/pkg" && cp -r "$SDK" "$WORK/sdk"
chmod -R u+w "$WORK"
( cd "$WORK/pkg" && go mod edit -replace github.com/pulumi/pulumi/sdk/v3=../sdk && \
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$VERSION" \
    -o "$BIN.tmp" ./cmd/pulumi )
mv "$BIN.tmp" "$BIN"
"$BIN" version >&2
echo "$BIN"
