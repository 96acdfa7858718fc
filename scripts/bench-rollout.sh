#!/usr/bin/env bash
# bench-rollout.sh — rollouts under load, as a Markdown section.
#
#   ./scripts/bench-rollout.sh [OUT] [bench/rollout flags…]
#
# Starts a throwaway cell on free loopback ports (temporary data dir, its
# own token), then runs bench/rollout against it, which pushes
# examples/hello and measures
#
#   a. a rolling deploy (max_in_flight 25%) under an open-loop load:
#      failed requests (target 0) and the rollout duration;
#   b. a canary (weight 25, watch 30s) of a release failing every 2nd
#      request under the same load: the time from the canary crossing its
#      threshold to the last response of a new-release instance (target
#      ≤ 5 s), and the failed requests.
#
# The section goes to OUT (default /tmp/bench-rollout.md). Flags after OUT
# go to the program, e.g. `--instances 3 --rate 100` for a quick run;
# defaults: --instances 10 --rate 1000. Every process it starts is stopped
# on exit, Ctrl-C included. It exits non-zero when a measurement cannot be
# taken, not when a target is missed (the section says so).
#
# Environment: BENCH_KEEP=1 keeps the work dir (cell log, program output).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAVED=$ROOT/bin/paved
OUT=${1:-/tmp/bench-rollout.md}
[ $# -gt 0 ] && shift
ARGS=("$@")

# shellcheck source=scripts/lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"


# ---------------------------------------------------------------- helpers --




# ------------------------------------------------------------------ build --

[ -d examples/hello ] || die "run from a paved checkout (examples/hello is missing)"
command -v go >/dev/null || die "go is not installed"
command -v curl >/dev/null || die "curl is not installed"
if [ ! -x "$PAVED" ]; then
  say "bin/paved is missing: make build"
  make build
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/paved-bench-rollout.XXXXXX")
say "building bench/rollout"
go build -o "$WORK/rollout" ./bench/rollout

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

REPRO=$(show_cmd ./scripts/bench-rollout.sh "$OUT" "${ARGS[@]}")
say "running: $REPRO"
# In the background, so that a Ctrl-C interrupts the wait and reaches the traps.
rc=0
"$WORK/rollout" --endpoint "$PAVED_ENDPOINT" --router "$ROUTER_ADDR" --repro "$REPRO" "${ARGS[@]}" \
  >"$WORK/report.md" 2> >(tee "$WORK/rollout.log" >&2) &
PROG_PID=$!
wait "$PROG_PID" || rc=$?
PROG_PID=
if [ "$rc" != 0 ]; then
  echo "--- cell log (last 30 lines) ---" >&2
  tail -30 "$WORK/cell.log" >&2
  die "bench/rollout failed (exit $rc)"
fi
kill -0 "$CELL_PID" 2>/dev/null || die "the cell exited during the run; see $WORK/cell.log"

mkdir -p "$(dirname "$OUT")"
cp "$WORK/report.md" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
OK=1
say "wrote $OUT: $(grep -o 'Verdict: [A-Z]*' "$OUT" || echo 'no verdict')"
