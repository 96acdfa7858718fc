#!/usr/bin/env bash
# release.sh — the provider's release artifacts in the layout a Terraform or
# OpenTofu registry serves (the one GoReleaser writes with the HashiCorp
# scaffolding's .goreleaser.yml; GoReleaser itself is not an approved module
# here, so this writes the same files):
#
#   terraform-provider-paved_<version>_<os>_<arch>.zip   (linux, darwin, windows × amd64, arm64),
#       each holding terraform-provider-paved_v<version>[.exe]
#   terraform-provider-paved_<version>_manifest.json      (terraform-registry-manifest.json: protocol 6.0)
#   terraform-provider-paved_<version>_SHA256SUMS         (of the zips and the manifest)
#   terraform-provider-paved_<version>_SHA256SUMS.sig     (detached GPG signature)
#
# Usage: scripts/release.sh [--snapshot] [OUT_DIR]   (default OUT_DIR: dist)
# The version is the tag on HEAD without its "v" (vX.Y.Z), or with
# --snapshot the CHANGELOG's version plus "-SNAPSHOT-<short commit>".
# RELEASE_VERSION overrides the version and RELEASE_PLATFORMS ("os/arch …")
# the platforms (the registry tests build only their own, as 0.1.0).
# Signing uses the key GPG_FINGERPRINT names; with --snapshot and no key, a
# throwaway key is made in a temporary GNUPGHOME and its public half written
# to OUT_DIR/signing-key.asc, so the signature can still be verified.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=terraform-provider-paved
snapshot=false
if [ "${1:-}" = --snapshot ]; then snapshot=true; shift; fi
OUT=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)

commit=$(git rev-parse --short HEAD)
if $snapshot; then
  base=$(sed -n 's/^## \([0-9][0-9.]*\).*/\1/p' CHANGELOG.md | head -1)
  VERSION="${base:-0.0.0}-SNAPSHOT-$commit"
else
  tag=$(git describe --tags --exact-match 2>/dev/null || true)
  [[ $tag =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]] || { echo "release.sh: HEAD has no vX.Y.Z tag (use --snapshot)" >&2; exit 1; }
  [ -z "$(git status --porcelain)" ] || { echo "release.sh: the work tree is not clean" >&2; exit 1; }
  VERSION=${tag#v}
fi
VERSION=${RELEASE_VERSION:-$VERSION}
PLATFORMS=${RELEASE_PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}
echo "release $VERSION into $OUT" >&2
rm -f "$OUT/${NAME}_"*

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LDFLAGS="-s -w -X github.com/pavedroad/terraform-provider-paved/internal/version.Version=$VERSION"
for platform in $PLATFORMS; do
  os=${platform%/*} arch=${platform#*/}
  bin=${NAME}_v$VERSION
  [ $os = windows ] && bin=$bin.exe
  mkdir -p "$WORK/$os-$arch"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "$LDFLAGS" -o "$WORK/$os-$arch/$bin" .
  cp LICENSE README.md CHANGELOG.md "$WORK/$os-$arch/"
  # Fixed times and order: the same commit gives the same zip.
  touch -d "$(git log -1 --format=%cI)" "$WORK/$os-$arch"/*
  (cd "$WORK/$os-$arch" && zip -q -X -D "$OUT/${NAME}_${VERSION}_${os}_${arch}.zip" "$bin" LICENSE README.md CHANGELOG.md)
  echo "  ${NAME}_${VERSION}_${os}_${arch}.zip" >&2
done
cp terraform-registry-manifest.json "$OUT/${NAME}_${VERSION}_manifest.json"
(cd "$OUT" && sha256sum "${NAME}_${VERSION}_"*.zip "${NAME}_${VERSION}_manifest.json" > "${NAME}_${VERSION}_SHA256SUMS")

if [ -z "${GPG_FINGERPRINT:-}" ]; then
  $snapshot || { echo "release.sh: set GPG_FINGERPRINT to the signing key of a release" >&2; exit 1; }
  export GNUPGHOME="$WORK/gnupg"
  mkdir -m 700 "$GNUPGHOME"
  gpg --batch --quiet --passphrase '' --quick-gen-key "paved snapshot <snapshot@paved.invalid>" rsa3072 sign 1d
  GPG_FINGERPRINT=$(gpg --batch --with-colons --list-keys | awk -F: '$1 == "fpr" {print $10; exit}')
  gpg --batch --armor --export "$GPG_FINGERPRINT" > "$OUT/signing-key.asc"
fi
gpg --batch --yes --local-user "$GPG_FINGERPRINT" --output "$OUT/${NAME}_${VERSION}_SHA256SUMS.sig" \
  --detach-sign "$OUT/${NAME}_${VERSION}_SHA256SUMS"
echo "$VERSION" > "$OUT/VERSION"
echo "$OUT"
