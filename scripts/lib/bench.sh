#!/usr/bin/env bash
# lib/bench.sh — helpers the benchmark scripts share (sourced, not run).
# Sourcing it sets up say/die, the cleanup on exit (stop $PROG_PID, given
# $PROG_GRACE seconds, and $CELL_PID, then sweep $WORK) and the signal
# traps; the caller sets WORK, CELL_PID, PROG_PID, and OK=1 on success.

BENCH_NAME=$(basename "$0" .sh)
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }


# stop PID [SECONDS]: SIGTERM, wait, then SIGKILL.
stop() {
  local pid=$1 grace=${2:-10} i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

# sweep: SIGKILL whatever still runs in the work dir (builds and instances
# of a cell that did not stop them), identified by its working directory.
sweep() {
  local d pid cwd
  [ -n "$WORK" ] || return 0
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    cwd=$(readlink "$d/cwd" 2>/dev/null) || continue
    case "$cwd" in "$WORK" | "$WORK"/*) kill -KILL "$pid" 2>/dev/null || true ;; esac
  done
}

# free_port: a loopback TCP port nobody listens on, below the ephemeral
# range, not handed out earlier in this run.
USED_PORTS=" "
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 12000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS="$USED_PORTS$p "
      echo "$p"
      return 0
    fi
  done
  die "no free loopback port found"
}

# wait_http URL: wait up to 20 s for URL to answer 2xx.
wait_http() {
  local i
  for ((i = 0; i < 200; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$CELL_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# show_cmd WORDS…: a copy-pasteable rendering of a command line.
show_cmd() {
  local w out=
  for w in "$@"; do
    case "$w" in *[\ \'\"\$\`\\]* | '') out+=" '${w//\'/\'\\\'\'}'" ;; *) out+=" $w" ;; esac
  done
  echo "${out# }"
}

WORK=
CELL_PID=
PROG_PID=
OK=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop "$PROG_PID" "${PROG_GRACE:-5}"
  stop "$CELL_PID" 30 # the cell stops its instances on SIGTERM
  sweep
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if { [ "$OK" = 1 ] || [ "$rc" -ge 128 ]; } && [ -z "${BENCH_KEEP:-}" ]; then
      rm -rf "$WORK"
    else
      echo "$BENCH_NAME: logs kept in $WORK" >&2
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_go_bench PROGRAM OUT ARGS…: build ./bench/PROGRAM, a Go program that
# starts its own cells (internal/testkit/testcell) under $WORK/cells and prints a
# Markdown section, run it with ARGS, and write the section to OUT. Used by
# the benchmarks whose program owns the cells' lifecycle (it kills and
# restarts cells, so the script cannot hold their PIDs).
run_go_bench() {
  local prog=$1 out=$2 rc=0
  shift 2
  [ -x bin/paved ] || { say "bin/paved is missing: make build"; make build; }
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/paved-bench-$prog.XXXXXX")
  say "building bench/$prog"
  go build -o "$WORK/$prog" "./bench/$prog"
  local repro
  repro=$(show_cmd "./scripts/bench-$prog.sh" "$out" "$@")
  say "running: $repro"
  PROG_GRACE=${PROG_GRACE:-40} # the program stops its cells on SIGTERM
  PAVED_BIN=$PWD/bin/paved "$WORK/$prog" --work "$WORK/cells" --repro "$repro" "$@" >"$WORK/report.md" &
  PROG_PID=$!
  wait "$PROG_PID" || rc=$?
  PROG_PID=
  [ "$rc" = 0 ] || die "bench/$prog failed (exit $rc); cell logs in $WORK/cells"
  mkdir -p "$(dirname "$out")"
  cp "$WORK/report.md" "$out.tmp" && mv "$out.tmp" "$out"
  OK=1
  say "wrote $out: $(grep -o 'Verdict: [A-Z]*' "$out" || echo 'no verdict')"
}
