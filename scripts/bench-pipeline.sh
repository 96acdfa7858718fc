#!/usr/bin/env bash
# bench-pipeline.sh — pipelines: commit → build start, as a Markdown section.
#
#   ./scripts/bench-pipeline.sh [OUT] [bench/pipeline flags…]
#
# Starts a throwaway cell on free loopback ports (temporary data dir, its
# own token), then runs bench/pipeline against it, which makes local git
# repositories with the git CLI and measures
#
#   1. commit → build start with a webhook (check_every 1h; 30 commits,
#      each followed by its webhook): p50/p95/max, target ≤ 1 s;
#   2. commit → build start by polling alone (check_every 1s, 10 commits),
#      against the theoretical check_every + 1 s;
#   3. scheduler load: 100 pipelines, each with its own repository and
#      webhook, each receiving one commit per second for 20 s: build-start
#      latency, builds started vs commits made (every version builds
#      exactly once: no duplicate, no missing build), and the cell's CPU
#      (/proc/PID/stat, the pid is passed with --cell-pid) and RSS.
#
# The section goes to OUT (default /tmp/bench-pipeline.md). Flags after OUT
# go to the program, e.g. `--webhook-commits 10 --poll-commits 5
# --pipelines 5 --duration 20s` for a quick run. Every process it starts is
# stopped on exit, Ctrl-C included. It exits non-zero when a measurement
# cannot be taken, not when a target is missed (the section says so).
#
# Environment: BENCH_KEEP=1 keeps the work dir (cell log, repositories,
# program output).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAVED=$ROOT/bin/paved
OUT=${1:-/tmp/bench-pipeline.md}
[ $# -gt 0 ] && shift
ARGS=("$@")

# shellcheck source=scripts/lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"


# ---------------------------------------------------------------- helpers --




# ------------------------------------------------------------------ build --

[ -f go.mod ] && [ -d bench/pipeline ] || die "run from a paved checkout (bench/pipeline is missing)"
command -v go >/dev/null || die "go is not installed"
command -v git >/dev/null || die "git is not installed"
command -v curl >/dev/null || die "curl is not installed"
if [ ! -x "$PAVED" ]; then
  say "bin/paved is missing: make build"
  make build
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/paved-bench-pipeline.XXXXXX")
say "building bench/pipeline"
go build -o "$WORK/pipeline" ./bench/pipeline

# ------------------------------------------------------------------ start --

API_ADDR=127.0.0.1:$(free_port)
ROUTER_ADDR=127.0.0.1:$(free_port)
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export PAVED_ENDPOINT=http://$API_ADDR PAVED_TOKEN=$TOKEN

say "starting a cell: API $API_ADDR, router $ROUTER_ADDR, data $WORK/data"
"$PAVED" server --region bench --cloud local --data "$WORK/data" \
  --api "$API_ADDR" --router "$ROUTER_ADDR" --token "$TOKEN" --stop-grace 5s >"$WORK/cell.log" 2>&1 &
CELL_PID=$!
if ! wait_http "$PAVED_ENDPOINT/v1/health"; then
  tail -20 "$WORK/cell.log" >&2
  die "the cell did not start (log above)"
fi

# ---------------------------------------------------------------- measure --

REPRO=$(show_cmd ./scripts/bench-pipeline.sh "$OUT" "${ARGS[@]}")
say "running: $REPRO"
# In the background, so that a Ctrl-C interrupts the wait and reaches the traps.
rc=0
"$WORK/pipeline" --endpoint "$PAVED_ENDPOINT" --cell-pid "$CELL_PID" --work "$WORK/repos" --repro "$REPRO" "${ARGS[@]}" \
  >"$WORK/report.md" 2> >(tee "$WORK/pipeline.log" >&2) &
PROG_PID=$!
wait "$PROG_PID" || rc=$?
PROG_PID=
if [ "$rc" != 0 ]; then
  echo "--- cell log (last 30 lines) ---" >&2
  tail -30 "$WORK/cell.log" >&2
  die "bench/pipeline failed (exit $rc)"
fi
kill -0 "$CELL_PID" 2>/dev/null || die "the cell exited during the run; see $WORK/cell.log"

mkdir -p "$(dirname "$OUT")"
cp "$WORK/report.md" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
OK=1
say "wrote $OUT: $(grep -o 'Verdict: [A-Z]*' "$OUT" || echo 'no verdict')"
