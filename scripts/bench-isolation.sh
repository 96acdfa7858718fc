#!/usr/bin/env bash
# bench-isolation.sh — instance start latency as a plain process and in a
# sandbox, side by side (issue 17), as a Markdown section.
#
#   ./scripts/bench-isolation.sh [OUT] [bench/isolation flags…]
#
# bench/isolation builds examples/hello once and starts it --runs times
# (default 15) through the runtime with and without isolation, alternating,
# timing each from Start to its port accepting. OUT defaults to
# /tmp/bench-isolation.md. Needs root (the sandbox does).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bench-isolation.md}
[ $# -gt 0 ] && shift
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
run_go_bench isolation "$OUT" "$@"
