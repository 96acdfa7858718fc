#!/usr/bin/env bash
# bench-donations.sh — the donation night (issue 6) as a Markdown section.
#
#   ./scripts/bench-donations.sh [OUT] [bench/donations flags…]
#
# bench/donations starts three cells on free loopback ports (regions
# aws-eu-west-1, gcp-europe-west2, onprem-london), deploys
# examples/donations/app to them with the paved library's multi-region
# fan-out, drives donations through the three routers, kills one cell with
# SIGKILL halfway, restarts it, and checks that every acknowledged donation
# is counted exactly once in every region. Each run uses fresh cells; the
# report shows every run and the median, min and max.
#
# The section goes to OUT (default /tmp/bench-donations.md). Flags after OUT
# go to the program; defaults --runs 3 --duration 30s --workers 96. Every
# process it starts is stopped on exit, Ctrl-C included.
#
# Environment: BENCH_KEEP=1 keeps the work dir (cell logs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-/tmp/bench-donations.md}
[ $# -gt 0 ] && shift
ARGS=("$@")
PROG_GRACE=40 # the program stops three cells on SIGTERM

# shellcheck source=scripts/lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"

[ -d examples/donations/app ] || die "run from a paved checkout (examples/donations/app is missing)"
command -v go >/dev/null || die "go is not installed"
if [ ! -x bin/paved ]; then
  say "bin/paved is missing: make build"
  make build
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/paved-bench-donations.XXXXXX")
say "building bench/donations"
go build -o "$WORK/donations" ./bench/donations

REPRO=$(show_cmd ./scripts/bench-donations.sh "$OUT" "${ARGS[@]}")
say "running: $REPRO"
rc=0
PAVED_BIN=$ROOT/bin/paved "$WORK/donations" --work "$WORK/cells" --repro "$REPRO" "${ARGS[@]}" \
  >"$WORK/report.md" &
PROG_PID=$!
wait "$PROG_PID" || rc=$?
PROG_PID=
[ "$rc" = 0 ] || die "bench/donations failed (exit $rc); cell logs in $WORK/cells"

mkdir -p "$(dirname "$OUT")"
cp "$WORK/report.md" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
OK=1
say "wrote $OUT: $(grep -o 'Verdict: [A-Z]*' "$OUT" || echo 'no verdict')"
