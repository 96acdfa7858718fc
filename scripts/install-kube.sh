#!/usr/bin/env bash
# install-kube.sh — a real Kubernetes control plane for the tests of the
# kubernetes runtime: kube-apiserver, kube-controller-manager and
# kube-scheduler built from the Go module proxy once (about 11 minutes on 2
# cores) and cached by version outside the repo, and etcd from Debian's
# etcd-server package. Prints the cache directory, which holds the three
# binaries and a file `etcd` naming the etcd binary.
#
# The recipe is the one verified in shared/kube-recipe.md: the module zip of
# k8s.io/kubernetes has no staging/ tree, so its go.work goes and every
# staging module is taken from the proxy at the matching v0.X.Y.
set -euo pipefail
VERSION=${KUBE_VERSION:-1.36.3}
STAGING=v0.${VERSION#1.}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/paved/kube/$VERSION
BINS=(kube-apiserver kube-controller-manager kube-scheduler)

etcd_bin() {
  local e
  e=$(command -v etcd || true)
  if [ -z "$e" ]; then
    echo "installing etcd (Debian's etcd-server)…" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; } >&2 ||
      { echo "could not install etcd-server; install it (apt-get install etcd-server) and rerun" >&2; exit 1; }
    e=$(command -v etcd)
  fi
  echo "$e"
}

ready() {
  for b in "${BINS[@]}"; do [ -x "$CACHE/$b" ] || return 1; done
  [ -s "$CACHE/etcd" ] && [ -x "$(cat "$CACHE/etcd")" ]
}

if ready; then
  echo "$CACHE"
  exit 0
fi
mkdir -p "$CACHE"
etcd_bin > "$CACHE/etcd"

missing=()
for b in "${BINS[@]}"; do [ -x "$CACHE/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "building Kubernetes $VERSION (${missing[*]}) from the Go module proxy (about 11 minutes, once)…" >&2
  SRC=$(go mod download -json "k8s.io/kubernetes@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$SRC" ] || { echo "could not download k8s.io/kubernetes v$VERSION" >&2; exit 1; }
  WORK=$(mktemp -d)
  trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
  cp -r "$SRC"/. "$WORK"/
  chmod -R u+w "$WORK"
  (
    cd "$WORK"
    rm -f go.work go.work.sum
    # Each staging replace goes; a v0.0.0 placeholder becomes the release.
    for mod in $(sed -n 's/^[[:space:]]*\(k8s\.io\/[^ ]*\) => \.\/staging\/.*$/\1/p' go.mod); do
      go mod edit -dropreplace="$mod"
    done
    for mod in $(sed -n 's/^[[:space:]]*\(k8s\.io\/[^ ]*\) v0\.0\.0$/\1/p' go.mod); do
      go mod edit -require="$mod@$STAGING"
    done
    minor=${VERSION#1.}; minor=${minor%%.*}
    X="-X k8s.io/component-base/version.gitVersion=v$VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    X="$X -X k8s.io/client-go/pkg/version.gitVersion=v$VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    for b in "${missing[@]}"; do
      GOFLAGS="-buildvcs=false -mod=mod" GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $X" -o "$CACHE/$b.tmp" "./cmd/$b"
      mv "$CACHE/$b.tmp" "$CACHE/$b"
      echo "built $b" >&2
    done
  )
fi
"$CACHE/kube-apiserver" --version >&2
echo "$CACHE"
