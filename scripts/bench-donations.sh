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
OUT=${1:-/tmp/bench-donations.md}
[ $# -gt 0 ] && shift
# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
[ -d examples/donations/app ] || die "run from a paved checkout (examples/donations/app is missing)"
run_go_bench donations "$OUT" "$@"
