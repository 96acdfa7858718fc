#!/usr/bin/env bash
# bench-failover.sh — failover when a whole cell dies (issue 10), as a
# Markdown section.
#
#   ./scripts/bench-failover.sh [OUT] [bench/failover flags…]
#
# bench/failover starts three cells, runs examples/hello in them as a
# replica set behind one global host, sends an open-loop load to the router
# of a cell that has no instance of its own (so it forwards to its peers),
# kills one peer cell with SIGKILL halfway, and reports the failed requests
# and the failure window (target ≤ 1 s); median, min and max over the runs.
# Defaults: --runs 3 --duration 20s --rate 500. OUT defaults to
# /tmp/bench-failover.md. Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bench-failover.md}
[ $# -gt 0 ] && shift
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
run_go_bench failover "$OUT" "$@"
