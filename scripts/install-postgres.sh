#!/usr/bin/env bash
# install-postgres.sh — make sure a PostgreSQL server is installed (the
# broker's tests and make demo start throwaway servers with initdb; none
# runs as a system service). Installs Debian's postgresql package when no
# /usr/lib/postgresql/*/bin/initdb exists, and prints the bin directory.
set -euo pipefail
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
bin=$(find_bin)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "installing PostgreSQL (Debian's postgresql package)…" >&2
  sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  { $sudo apt-get update -qq &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; } >&2 ||
    { echo "could not install postgresql; install it (apt-get install postgresql) and rerun" >&2; exit 1; }
  # The package starts a cluster of its own; the tests do not use it.
  $sudo systemctl disable --now postgresql >/dev/null 2>&1 || $sudo service postgresql stop >/dev/null 2>&1 || true
  bin=$(find_bin)
fi
echo "$bin"
