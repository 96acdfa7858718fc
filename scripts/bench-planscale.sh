#!/usr/bin/env bash
# bench-planscale.sh — OpenTofu plan at scale, as a Markdown section.
#
#   ./scripts/bench-planscale.sh [OUT] [bench/planscale flags…]
#
# Builds the provider (go build -o bin/terraform-provider-paved .), gets
# OpenTofu from scripts/install-tofu.sh (built once, cached), starts a
# throwaway cell on free loopback ports (temporary data dir, its own token)
# and runs bench/planscale against it: for each size (100, 300, 1000
# paved_space resources, plus 100 stopped paved_app resources) it applies
# a generated configuration once, times `tofu plan -refresh=true
# -detailed-exitcode` while sampling the provider's RSS, and destroys it.
# OpenTofu finds the local build through a dev_overrides CLI config
# (TF_CLI_CONFIG_FILE), as scripts/docs.sh does.
#
# The section goes to OUT (default /tmp/bench-planscale.md). Flags after OUT
# go to the program, e.g. `--sizes 10,20 --apps 10` for a quick run. Every
# process it starts is stopped on exit, Ctrl-C included. It exits non-zero
# when a measurement cannot be taken, not when a target is missed (the
# section says so).
#
# Environment: BENCH_KEEP=1 keeps the work dir (cell log, configurations,
# tofu logs and state).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAVED=$ROOT/bin/paved
OUT=${1:-/tmp/bench-planscale.md}
[ $# -gt 0 ] && shift
ARGS=("$@")

# tofu needs time to stop its providers after the interrupt is passed on
PROG_GRACE=20
# shellcheck source=scripts/lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"


# ---------------------------------------------------------------- helpers --




# ------------------------------------------------------------------ build --

[ -f main.go ] && [ -d provider ] || die "run from a paved checkout (provider/ is missing)"
command -v go >/dev/null || die "go is not installed"
command -v curl >/dev/null || die "curl is not installed"
if [ ! -x "$PAVED" ]; then
  say "bin/paved is missing: make build"
  make build
fi
say "building the provider: go build -o bin/terraform-provider-paved ."
go build -o bin/terraform-provider-paved .
say "getting OpenTofu: ./scripts/install-tofu.sh"
TOFU=$(./scripts/install-tofu.sh)
[ -x "$TOFU" ] || die "scripts/install-tofu.sh gave no binary ($TOFU)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/paved-bench-planscale.XXXXXX")
say "building bench/planscale"
go build -o "$WORK/planscale" ./bench/planscale

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

REPRO=$(show_cmd ./scripts/bench-planscale.sh "$OUT" "${ARGS[@]}")
say "running: $REPRO"
mkdir -p "$WORK/tf"
# In the background, so that a Ctrl-C interrupts the wait and reaches the traps.
rc=0
"$WORK/planscale" --tofu "$TOFU" --provider-dir "$ROOT/bin" --endpoint "$PAVED_ENDPOINT" --work "$WORK/tf" \
  --repro "$REPRO" "${ARGS[@]}" >"$WORK/report.md" 2> >(tee "$WORK/planscale.log" >&2) &
PROG_PID=$!
wait "$PROG_PID" || rc=$?
PROG_PID=
if [ "$rc" != 0 ]; then
  echo "--- cell log (last 30 lines) ---" >&2
  tail -30 "$WORK/cell.log" >&2
  die "bench/planscale failed (exit $rc)"
fi
kill -0 "$CELL_PID" 2>/dev/null || die "the cell exited during the run; see $WORK/cell.log"

mkdir -p "$(dirname "$OUT")"
cp "$WORK/report.md" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
OK=1
say "wrote $OUT: $(grep -o 'Verdict [^:]*: [A-Z]*' "$OUT" || echo 'no verdict')"
