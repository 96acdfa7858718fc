#!/usr/bin/env bash
# bench-all.sh — every benchmark in one run, into BENCHMARKS.md: the router
# (scripts/bench.sh writes the file), then rollouts, failover of a killed
# cell, donations across three regions with one killed, OpenTofu plans at
# scale, pipeline latency, the cell's footprint and the cost of isolating an
# instance's start, each appended as its own section.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bench.sh
for part in rollout runtime failover donations planscale pipeline footprint isolation; do
  script=./scripts/bench-$part.sh
  [ -x "$script" ] || continue
  out=$(mktemp)
  echo "==> $script" >&2
  if "$script" "$out"; then
    { echo; cat "$out"; } >> BENCHMARKS.md
  else
    { echo; echo "## $part"; echo; echo "The $part benchmark failed to run; see its output above."; } >> BENCHMARKS.md
  fi
  rm -f "$out"
done
echo "BENCHMARKS.md written" >&2
