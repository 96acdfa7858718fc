#!/usr/bin/env bash
# bench-runtime.sh — the process runtime and the Kubernetes runtime side by
# side, as a Markdown section.
#
#   ./scripts/bench-runtime.sh [OUT] [bench/runtimes flags…]
#
# Starts a control plane and three test nodes (bin/kubeup, what make
# kube-up runs; as root), a throwaway cell of each runtime on free loopback
# ports (temporary data dirs, one token), then runs bench/runtimes, which
# times a rollout of 10 instances and an instance's start → routable on
# each. The section goes to OUT (default /tmp/bench-runtime.md). Every
# process it starts is stopped on exit, Ctrl-C included.
#
# Environment: BENCH_KEEP=1 keeps the work dir (cell logs, program output).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAVED=$ROOT/bin/paved
OUT=${1:-/tmp/bench-runtime.md}
[ $# -gt 0 ] && shift
ARGS=("$@")

# shellcheck source=scripts/lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"

[ "$(id -u)" = 0 ] || die "the test nodes make network namespaces and a bridge: run as root"
[ -x "$PAVED" ] || { say "bin/paved is missing: make build"; make build; }
./scripts/install-kube.sh >/dev/null
WORK=$(mktemp -d "${TMPDIR:-/tmp}/paved-bench-runtime.XXXXXX")
say "building bench/runtimes and kubeup"
go build -o "$WORK/runtimes" ./bench/runtimes
go build -o "$WORK/kubeup" ./internal/testkit/cmd/kubeup

KUBE_PID= PROC_PID=
finish() {
  stop "$PROC_PID" 30
  stop "$KUBE_PID" 60 # kubeup removes its nodes' namespaces and links on SIGTERM
}
trap 'finish; cleanup' EXIT

TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export PAVED_TOKEN=$TOKEN
P_API=127.0.0.1:$(free_port) P_ROUTER=127.0.0.1:$(free_port)
K_API=127.0.0.1:$(free_port) K_ROUTER=127.0.0.1:$(free_port)

say "starting a control plane and three test nodes"
"$WORK/kubeup" -state "$WORK/kube" -cell-api "$K_API" -paved "$PAVED" >"$WORK/kubeup.log" 2>&1 &
KUBE_PID=$!
for ((i = 0; i < 1800; i++)); do
  [ -f "$WORK/kube/ready" ] && break
  kill -0 "$KUBE_PID" 2>/dev/null || { cat "$WORK/kubeup.log" >&2; die "kubeup failed"; }
  sleep 0.1
done
[ -f "$WORK/kube/ready" ] || die "the cluster was not up in 3 minutes; see $WORK/kubeup.log"

say "starting a process cell (API $P_API) and a Kubernetes cell (API $K_API)"
"$PAVED" server --region bench-process --data "$WORK/process" --api "$P_API" --router "$P_ROUTER" \
  --token "$TOKEN" --stop-grace 5s >"$WORK/process.log" 2>&1 &
PROC_PID=$!
# shellcheck disable=SC2046 # the flags are words
"$PAVED" server --region bench-kube --data "$WORK/kubernetes" --api "$K_API" --router "$K_ROUTER" \
  --token "$TOKEN" --stop-grace 5s $(cat "$WORK/kube/server-flags") >"$WORK/kubernetes.log" 2>&1 &
CELL_PID=$!
CELL_PID=$PROC_PID wait_http "http://$P_API/v1/health" || { tail -20 "$WORK/process.log" >&2; die "the process cell did not start"; }
wait_http "http://$K_API/v1/health" || { tail -20 "$WORK/kubernetes.log" >&2; die "the Kubernetes cell did not start"; }

REPRO=$(show_cmd ./scripts/bench-runtime.sh "$OUT" "${ARGS[@]}")
say "running: $REPRO"
rc=0
"$WORK/runtimes" --process "http://$P_API" --kubernetes "http://$K_API" --repro "$REPRO" "${ARGS[@]}" \
  >"$WORK/report.md" &
PROG_PID=$!
wait "$PROG_PID" || rc=$?
PROG_PID=
[ "$rc" = 0 ] || { tail -30 "$WORK/kubernetes.log" >&2; die "bench/runtimes failed (exit $rc)"; }
mkdir -p "$(dirname "$OUT")"
cp "$WORK/report.md" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
OK=1
say "wrote $OUT"
