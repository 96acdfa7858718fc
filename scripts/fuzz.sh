#!/usr/bin/env bash
# fuzz.sh [DURATION] [TARGET...] — run every native Go fuzz target of the
# main module (func FuzzXxx in a _test.go file under internal/ or paved/)
# for DURATION each (default 10s), one at a time: `go test -fuzz` takes a
# single target per run. TARGETs (e.g. FuzzExtract) limit the run to those.
#
# It stops at the first finding and says how to reproduce it: the failing
# input is in PKG/testdata/fuzz/FuzzXxx/, where `go test` replays it from
# then on; once the bug is fixed, commit it (renamed to say what it is) as a
# regression seed.
#
# Environment: GO (default go); FUZZ_PARALLEL, fuzzing workers per target
# (default: GOMAXPROCS); FUZZ_MINIMIZE, -fuzzminimizetime (default 5s:
# minimizing every new input longer starves short runs).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10s}
shift || true
GO=${GO:-go}

# PKG TARGET pairs, in a stable order.
mapfile -t targets < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(f \*testing.F)' internal paved |
  sed -E 's#^(.*)/[^/]*_test.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' | sort -u)
if [ $# -gt 0 ]; then
  want=" $* "
  selected=()
  for t in "${targets[@]}"; do
    [[ $want == *" ${t#* } "* ]] && selected+=("$t")
  done
  targets=("${selected[@]}")
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets found${*:+ named $*}" >&2
  exit 2
fi

args=(-run '^$' -fuzztime "$duration" -fuzzminimizetime "${FUZZ_MINIMIZE:-5s}" -timeout 0)
[ -n "${FUZZ_PARALLEL:-}" ] && args+=(-parallel "$FUZZ_PARALLEL")

start=$SECONDS
for t in "${targets[@]}"; do
  pkg=${t% *} name=${t#* }
  echo "==> $name (./$pkg) for $duration" >&2
  log=$(mktemp)
  if "$GO" test "${args[@]}" -fuzz "^$name\$" "./$pkg" >"$log" 2>&1; then
    grep -E '^fuzz: elapsed: .*execs' "$log" | tail -1 >&2 || true
    rm -f "$log"
    continue
  fi
  input=$(sed -nE 's/.*Failing input written to (testdata\/fuzz\/[^ ]*).*/\1/p' "$log" | tail -1)
  # Go 1.26's fuzz coordinator can report a bare "context deadline
  # exceeded" when -fuzztime ends while a worker is mid-input (a shutdown
  # race, golang/go#75804, fixed in Go 1.27): no input failed, none was
  # written. Tolerate exactly that, after replaying the corpus to be sure.
  if [ -z "$input" ] && grep -q 'context deadline exceeded' "$log" &&
    ! grep -qE 'panic:|_test.go:[0-9]+:' "$log" &&
    "$GO" test -count=1 -run "^$name\$" "./$pkg" >/dev/null 2>&1; then
    echo "    (the fuzz coordinator's deadline race, golang/go#75804: no failing input; the corpus replays clean)" >&2
    rm -f "$log"
    continue
  fi
  cat "$log" >&2
  rm -f "$log"
  echo >&2
  if [ -n "$input" ]; then
    echo "fuzz.sh: $name found a failing input: $pkg/$input" >&2
    echo "reproduce: $GO test -run '^$name\$/^${input##*/}\$' ./$pkg" >&2
    echo "(go test replays it from now on; once fixed, keep it as a regression seed)" >&2
  else
    echo "fuzz.sh: $name failed before fuzzing (a seed or the build); reproduce: $GO test -run '^$name\$' ./$pkg" >&2
  fi
  exit 1
done
echo "fuzz.sh: ${#targets[@]} targets, $duration each, no findings ($((SECONDS - start))s)" >&2
