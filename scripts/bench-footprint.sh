#!/usr/bin/env bash
# bench-footprint.sh — the cell's own footprint with 100 idle apps and its
# start-up time with them (issue 10), as a Markdown section.
#
#   ./scripts/bench-footprint.sh [OUT] [bench/footprint flags…]
#
# bench/footprint starts a cell, creates 100 apps of one instance each,
# reads the cell process's RSS and CPU from /proc while it idles (target
# ≤ 100 MiB), then restarts it (SIGTERM, start) and times until every app
# runs healthy again. Defaults: --apps 100 --runs 3 --idle 10s. OUT
# defaults to /tmp/bench-footprint.md. Every process it starts is stopped
# on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bench-footprint.md}
[ $# -gt 0 ] && shift
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
run_go_bench footprint "$OUT" "$@"
