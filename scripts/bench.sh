#!/usr/bin/env bash
# bench.sh — router throughput and latency, side by side, into BENCHMARKS.md.
#
# Starts a throwaway cell on free loopback ports, pushes examples/hello with
# one instance, puts bench/refproxy (a tuned httputil.ReverseProxy) in front
# of that instance, and for each concurrency level sends the same wrk load
# (keep-alive, GET /kib = 1 KiB responses) to
#
#   direct    the hello instance itself
#   splice    bench/spliceproxy, a Go TCP relay that reads no HTTP, with a
#             goroutine per direction: the cost of a second hop on shared
#             cores through Go's netpoller
#   nginx     nginx (Debian's) as a keep-alive reverse proxy, when installable
#   refproxy  the reference ReverseProxy
#   router    the paved router (Host: bench.test)
#
# then writes the figures to BENCHMARKS.md. Run it with `make bench` (which
# builds bin/paved first) or directly. Every process it starts is stopped on
# exit, Ctrl-C included. It exits non-zero when something fails to start or
# a measurement cannot be taken, but not when the router misses a target
# (the floor router >= 0.5x direct req/s, and against nginx: >= 1.0x its
# req/s, p99 <= 1.5x its p99, >= 0.6x direct): that is reported in
# BENCHMARKS.md.
#
# Knobs (environment):
#   BENCH_CONNS="16 64 256"  connection counts (fixed concurrency levels)
#   BENCH_THREADS=2          wrk threads
#   BENCH_ROUNDS=3           rounds; each round measures every target at every
#                            level once, interleaved, and the report gives the
#                            median of the rounds with min and max
#   BENCH_DURATION=5s        length of one measurement
#   BENCH_WARMUP=2s          warm-up before each measurement (0 = none)
#   BENCH_OUT=BENCHMARKS.md  report path (relative to the repository root)
#   BENCH_KEEP=1             keep the temporary work dir (logs, wrk output)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAVED=$ROOT/bin/paved
REFPROXY=$ROOT/bin/refproxy
CONNS=${BENCH_CONNS:-16 64 256}
THREADS=${BENCH_THREADS:-2}
DURATION=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-2s}
OUT=${BENCH_OUT:-BENCHMARKS.md}
HOST=bench.test
SPACE=bench
APP=hello
FLOOR=0.5

# say, die, stop, free_port and show_cmd come from the benchmarks' shared
# helpers; this script has more processes to stop, so its cleanup (below)
# replaces theirs.
# shellcheck source=scripts/lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"

# ---------------------------------------------------------------- cleanup --

WORK=
CELL_PID=
REFPROXY_PID=
SPLICE_PID=
NGINX_PID=
INSTANCE_PID=
WRK_PID=
OK=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop "$WRK_PID" 2
  stop "$REFPROXY_PID" 5
  stop "$SPLICE_PID" 5
  stop "$NGINX_PID" 5
  stop "$CELL_PID" 30 # the cell stops its instances on SIGTERM
  # Should the cell have been killed before stopping its instance, stop the
  # instance's process group, if it still is ours (runs in our work dir).
  if [ -n "$INSTANCE_PID" ] && [ -n "$WORK" ] && kill -0 "$INSTANCE_PID" 2>/dev/null; then
    case "$(readlink "/proc/$INSTANCE_PID/cwd" 2>/dev/null)" in
      "$WORK"/*) kill -KILL -- "-$INSTANCE_PID" 2>/dev/null || true ;;
    esac
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    # Kept after a failure, for its logs; removed after success or Ctrl-C.
    if { [ "$OK" = 1 ] || [ "$rc" -ge 128 ]; } && [ -z "${BENCH_KEEP:-}" ]; then
      rm -rf "$WORK"
    else
      echo "bench: logs kept in $WORK" >&2
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers --

# wait_target URL [CURL ARGS…]: wait up to 10 s for URL to answer 2xx.
wait_target() {
  local url=$1 i
  shift
  for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# instance_field NAME < app-show-json: field NAME of instances[0].
instance_field() {
  if command -v jq >/dev/null; then
    jq -r ".instances[0].$1 // empty"
  else # InstanceStatus is flat, so the first {…} of "instances" is instances[0]
    tr -d '\n' | grep -o '"instances": *\[ *{[^}]*}' | grep -o "\"$1\": *[^,}]*" | head -1 |
      sed -e 's/^[^:]*: *//' -e 's/^"//' -e 's/"$//' || true
  fi
}

# to_ms VALUE: wrk latency ("812.00us", "1.23ms", "1.01s", "2.00m") in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

# run_wrk LOG WRK-ARGS…: run wrk in the background and wait for it, so that
# a Ctrl-C interrupts the wait and reaches the traps (wrk itself exits 0 on
# SIGINT, which a foreground wait would take for a finished run).
run_wrk() {
  local log=$1 rc=0
  shift
  "$@" >"$log" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=
  return "$rc"
}

# ------------------------------------------------------------------ build --

[ -d examples/hello ] || die "run from a paved checkout (examples/hello is missing)"
command -v go >/dev/null || die "go is not installed"
command -v curl >/dev/null || die "curl is not installed"
if [ ! -x "$PAVED" ]; then
  say "bin/paved is missing: make build"
  make build
fi
say "building bench/refproxy and bench/spliceproxy into bin/"
go build -o "$REFPROXY" ./bench/refproxy
go build -o "$ROOT/bin/spliceproxy" ./bench/spliceproxy
if ! command -v nginx >/dev/null 2>&1; then
  say "installing nginx (Debian) as a peer"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; } 2>/dev/null ||
    { apt-get install -y -qq nginx >/dev/null 2>&1 || true; }
fi

if ! command -v wrk >/dev/null; then
  say "installing wrk (apt-get)"
  SUDO=
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
    die "could not install wrk; install it (apt-get install wrk) and rerun"
  command -v wrk >/dev/null || die "wrk is still missing after apt-get install"
fi

# ------------------------------------------------------------------ start --

WORK=$(mktemp -d "${TMPDIR:-/tmp}/paved-bench.XXXXXX")
API_ADDR=127.0.0.1:$(free_port)
ROUTER_ADDR=127.0.0.1:$(free_port)
REFPROXY_ADDR=127.0.0.1:$(free_port)
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export PAVED_ENDPOINT=http://$API_ADDR PAVED_TOKEN=$TOKEN

PPROF_ADDR=127.0.0.1:$(free_port)
# The token stays off command lines (ps shows them to every user): the cell
# reads it from a file, curl sends it to the profiles from a header file.
(umask 077 && printf '%s\n' "$TOKEN" >"$WORK/admin.token" && printf 'Authorization: Bearer %s\n' "$TOKEN" >"$WORK/pprof.auth")
say "starting a cell: API $API_ADDR, router $ROUTER_ADDR, data $WORK/data, pprof $PPROF_ADDR"
PAVED_PPROF=$PPROF_ADDR "$PAVED" server --region bench --cloud local --data "$WORK/data" \
  --api "$API_ADDR" --router "$ROUTER_ADDR" --token-file "$WORK/admin.token" >"$WORK/cell.log" 2>&1 &
CELL_PID=$!
if ! wait_target "$PAVED_ENDPOINT/v1/health"; then
  tail -20 "$WORK/cell.log" >&2
  die "the cell did not start (log above)"
fi

say "pushing examples/hello with 1 instance (route $HOST)"
"$PAVED" space create "$SPACE" >/dev/null
"$PAVED" push examples/hello --space "$SPACE" --app "$APP" --instances 1 \
  --build 'go build -o hello .' --command ./hello --route "$HOST" --health-path /healthz \
  >"$WORK/push.log" 2>&1 || { tail -30 "$WORK/push.log" >&2; die "push failed (log above)"; }

PORT=
for ((i = 0; i < 100; i++)); do
  show=$("$PAVED" app show "$APP" --space "$SPACE" --output json 2>&1) || true
  PORT=$(instance_field port <<<"$show" 2>/dev/null) || true
  INSTANCE_PID=$(instance_field pid <<<"$show" 2>/dev/null) || true
  [ -n "$PORT" ] && [ "$PORT" != 0 ] && [ "$(instance_field healthy <<<"$show" 2>/dev/null)" = true ] && break
  PORT=
  sleep 0.1
done
[ -n "$PORT" ] || { echo "$show" >&2; die "no healthy instance of $APP"; }
DIRECT_ADDR=127.0.0.1:$PORT

say "starting refproxy on $REFPROXY_ADDR in front of $DIRECT_ADDR"
"$REFPROXY" --listen "$REFPROXY_ADDR" --backend "$DIRECT_ADDR" >"$WORK/refproxy.log" 2>&1 &
REFPROXY_PID=$!
SPLICE_ADDR=127.0.0.1:$(free_port)
"$ROOT/bin/spliceproxy" --listen "$SPLICE_ADDR" --backend "$DIRECT_ADDR" >"$WORK/splice.log" 2>&1 &
SPLICE_PID=$!
if command -v nginx >/dev/null 2>&1; then
  NGINX_ADDR=127.0.0.1:$(free_port)
  mkdir -p "$WORK/nginx"
  # Equivalent keep-alive settings: a pool of idle upstream connections,
  # HTTP/1.1 upstream, no access log (the router keeps none either).
  cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream hello { server $DIRECT_ADDR; keepalive 256; }
  server {
    listen $NGINX_ADDR;
    location / {
      proxy_pass http://hello;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
}
NGINX
  nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx/out.log" 2>&1 &
  NGINX_PID=$!
fi

# All three targets must serve the same 1 KiB body before measuring.
declare -A URL HDR
URL[direct]=http://$DIRECT_ADDR/kib
URL[splice]=http://$SPLICE_ADDR/kib
URL[refproxy]=http://$REFPROXY_ADDR/kib
URL[router]=http://$ROUTER_ADDR/kib
HDR[direct]=
HDR[splice]=
HDR[refproxy]=
HDR[router]="Host: $HOST"
TARGETS=(direct splice refproxy router)
if [ -n "$NGINX_PID" ]; then
  URL[nginx]=http://$NGINX_ADDR/kib
  HDR[nginx]=
  TARGETS=(direct splice nginx refproxy router)
fi
for t in "${TARGETS[@]}"; do
  hargs=()
  [ -z "${HDR[$t]}" ] || hargs=(-H "${HDR[$t]}")
  wait_target "${URL[$t]}" "${hargs[@]}" || die "$t (${URL[$t]}) does not answer; logs in $WORK"
  size=$(curl -fsS "${hargs[@]}" "${URL[$t]}" | wc -c)
  [ "$size" -eq 1024 ] || die "$t answered $size bytes on /kib, want 1024"
done

# -------------------------------------------------------------- measure --

# wrk_cmd TARGET CONNS DURATION: the wrk command line, one word per line.
wrk_cmd() {
  local t=$1 c=$2 d=$3
  printf '%s\n' wrk "-t$THREADS" "-c$c" "-d$d" --latency
  [ -z "${HDR[$t]}" ] || printf '%s\n' -H "${HDR[$t]}"
  printf '%s\n' "${URL[$t]}"
}


# Rounds, not repeats in a row: every target at every level once per
# round, so a slow spell of the shared machine spreads over the targets
# instead of landing on one of them.
declare -A RPS P50 P99 ERRS CMD
for ((round = 1; round <= ROUNDS; round++)); do
  for c in $CONNS; do
    for t in "${TARGETS[@]}"; do
      if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
        mapfile -t cmd < <(wrk_cmd "$t" "$c" "$WARMUP")
        run_wrk /dev/null "${cmd[@]}" || true
      fi
      mapfile -t cmd < <(wrk_cmd "$t" "$c" "$DURATION")
      CMD[$t,$c]=$(show_cmd "${cmd[@]}")
      say "round $round/$ROUNDS, $t, $c connections: ${CMD[$t,$c]}"
      log=$WORK/wrk-$t-$c-$round.txt
      run_wrk "$log" "${cmd[@]}" || { cat "$log" >&2; die "wrk failed against $t"; }
      kill -0 "$CELL_PID" 2>/dev/null || die "the cell exited during the run; see $WORK/cell.log"
      kill -0 "$REFPROXY_PID" 2>/dev/null || die "refproxy exited during the run; see $WORK/refproxy.log"
      k=$t,$c,$round
      RPS[$k]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$log")
      P50[$k]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$log")")
      P99[$k]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$log")")
      # Socket errors and non-2xx/3xx responses, summed.
      ERRS[$k]=$(awk '
        /Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { e += $NF }
        END { print e + 0 }' "$log")
      [ -n "${RPS[$k]}" ] || { cat "$log" >&2; die "could not parse the wrk output of $t"; }
      printf '    %s req/s, p50 %s ms, p99 %s ms, errors %s\n' \
        "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "${ERRS[$k]}" >&2
    done
  done
done

# over_rounds med|lo|hi|sum ARRAY TARGET CONNS: median (lower middle), min or max over the
# rounds; sum for the errors.
over_rounds() {
  local how=$1 arr=$2 t=$3 c=$4 r
  local -n a=$arr
  for ((r = 1; r <= ROUNDS; r++)); do echo "${a[$t,$c,$r]}"; done | sort -g | awk -v how="$how" '
    { v[NR] = $1; s += $1 }
    END {
      if (how == "med") print v[int((NR + 1) / 2)]
      else if (how == "lo") print v[1]
      else if (how == "hi") print v[NR]
      else print s }'
}
declare -A MRPS MP50 MP99 SPREAD_RPS SPREAD_P99 TERRS
for c in $CONNS; do
  for t in "${TARGETS[@]}"; do
    MRPS[$t,$c]=$(over_rounds med RPS "$t" "$c")
    MP50[$t,$c]=$(over_rounds med P50 "$t" "$c")
    MP99[$t,$c]=$(over_rounds med P99 "$t" "$c")
    SPREAD_RPS[$t,$c]="$(over_rounds lo RPS "$t" "$c")–$(over_rounds hi RPS "$t" "$c")"
    SPREAD_P99[$t,$c]="$(over_rounds lo P99 "$t" "$c")–$(over_rounds hi P99 "$t" "$c")"
    TERRS[$t,$c]=$(over_rounds sum ERRS "$t" "$c")
  done
done

# ---------------------------------------------------------------- profile --

# A CPU profile of the cell while wrk drives the router at the lowest
# level (where the floor was hardest to reach), for the report's account of
# where the router's time goes.
PROFILE_C=$(for c in $CONNS; do echo "$c"; done | sort -n | head -1)
PROFILE_SECS=5
PROFILE_TOP=
PROFILE_SYSCALL=
say "profiling the router: $PROFILE_C connections, ${PROFILE_SECS}s"
# Heap allocations and lock contention are read as the difference of two
# snapshots around the profiled run (PAVED_PPROF samples contention too).
curl -fsS -H @"$WORK/pprof.auth" -o "$WORK/allocs0.pprof" "http://$PPROF_ADDR/debug/pprof/allocs" || true
curl -fsS -H @"$WORK/pprof.auth" -o "$WORK/mutex0.pprof" "http://$PPROF_ADDR/debug/pprof/mutex" || true
mapfile -t cmd < <(wrk_cmd router "$PROFILE_C" "$((PROFILE_SECS + 2))s")
"${cmd[@]}" >"$WORK/wrk-profile.txt" 2>&1 &
WRK_PID=$!
sleep 1
if curl -fsS -H @"$WORK/pprof.auth" -o "$WORK/router.pprof" "http://$PPROF_ADDR/debug/pprof/profile?seconds=$PROFILE_SECS"; then
  PROFILE_TOP=$(go tool pprof -top -nodecount=12 "$PAVED" "$WORK/router.pprof" 2>/dev/null | sed -n '/^ *flat/,$p') || true
  # The share of the cell's CPU samples spent in system calls (read,
  # write, epoll) and under them in the kernel.
  PROFILE_SYSCALL=$(go tool pprof -top -cum "$PAVED" "$WORK/router.pprof" 2>/dev/null |
    awk '$NF ~ /[Ss]yscall6?$/ { if ($5 + 0 > m) m = $5 + 0 } END { if (m) printf "%.0f%%", m }') || true
fi
wait "$WRK_PID" 2>/dev/null || true
WRK_PID=
# pprof_total KIND BASE PROFILE: the total of a profile difference ("0" when
# nothing was sampled), from pprof's "accounting for X" line.
pprof_total() {
  go tool pprof -sample_index="$1" -base "$2" -top "$PAVED" "$3" 2>/dev/null |
    awk '/accounting for/ { for (i = 1; i <= NF; i++) if ($i == "for") { v = $(i + 1); sub(/,$/, "", v); print v; exit } }'
}
PROFILE_REQS=$(awk '/requests in/ {print $1}' "$WORK/wrk-profile.txt")
PROFILE_ALLOCS=
PROFILE_ALLOC_TOP=
PROFILE_MUTEX=
if curl -fsS -H @"$WORK/pprof.auth" -o "$WORK/allocs1.pprof" "http://$PPROF_ADDR/debug/pprof/allocs" &&
  curl -fsS -H @"$WORK/pprof.auth" -o "$WORK/mutex1.pprof" "http://$PPROF_ADDR/debug/pprof/mutex"; then
  PROFILE_ALLOCS=$(pprof_total alloc_objects "$WORK/allocs0.pprof" "$WORK/allocs1.pprof")
  # Where they were made: the heap profile samples one allocation per 512
  # KiB, so a few small objects anywhere in the cell (health checks, the
  # API) read as thousands; the sites tell whether the request path is one.
  PROFILE_ALLOC_TOP=$(go tool pprof -sample_index=alloc_objects -base "$WORK/allocs0.pprof" -top -nodecount=5 \
    "$PAVED" "$WORK/allocs1.pprof" 2>/dev/null | sed -n '/^ *flat/,$p') || true
  PROFILE_MUTEX=$(pprof_total delay "$WORK/mutex0.pprof" "$WORK/mutex1.pprof")
fi

# ----------------------------------------------------------------- report --

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)
mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null)
wrkv=$(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}') || true # wrk -v exits 1

# above A B: 1 when A >= B (numbers).
above() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? 1 : 0 }'; }
mark() { [ "$1" = 1 ] && echo "PASS" || echo "**miss**"; }

VERDICT=PASS
verdict_lines=()
target_lines=()
miss_lines=()
TARGETS_MET=yes
for c in $CONNS; do
  r=$(ratio "${MRPS[router,$c]}" "${MRPS[direct,$c]}")
  ok=$(above "$r" "$FLOOR")
  [ "$ok" = 1 ] || VERDICT=FAIL
  verdict_lines+=("- $c connections: router ${MRPS[router,$c]} req/s vs direct ${MRPS[direct,$c]} req/s = ${r}× ($([ "$ok" = 1 ] && echo "≥" || echo "<") ${FLOOR}×)")
  if [ -n "$NGINX_PID" ]; then
    rn=$(ratio "${MRPS[router,$c]}" "${MRPS[nginx,$c]}")
    pn=$(ratio "${MP99[router,$c]}" "${MP99[nginx,$c]}")
    ok1=$(above "$rn" 1.0)
    ok2=$(above 1.5 "$pn")
    ok3=$(above "$r" 0.6)
    [ "$ok1$ok2$ok3" = 111 ] || TARGETS_MET=no
    nd=$(ratio "${MRPS[nginx,$c]}" "${MRPS[direct,$c]}")
    [ "$ok1" = 1 ] || miss_lines+=("- $c connections: the router reaches ${rn}× nginx's req/s, $(awk -v a="$rn" 'BEGIN { printf "%.0f", (1 - a) * 100 }')% short.")
    [ "$ok2" = 1 ] || miss_lines+=("- $c connections: the router's p99 is ${pn}× nginx's, over the 1.5× allowed.")
    [ "$ok3" = 1 ] || miss_lines+=("- $c connections: the router reaches ${r}× direct, $(awk -v a="$r" 'BEGIN { printf "%.0f", (0.6 - a) * 100 }') points under 0.6×; nginx in the same run reaches ${nd}×.")
    target_lines+=("| $c | ${rn}× | $(mark "$ok1") | ${pn}× | $(mark "$ok2") | ${r}× | $(mark "$ok3") | $(ratio "${MRPS[nginx,$c]}" "${MRPS[direct,$c]}")× |")
  fi
done

tmp=$WORK/report.md
{
  echo "# Router benchmark"
  echo
  echo "Router throughput and latency against a single instance of \`examples/hello\`,"
  echo "side by side with the same load sent straight to that instance and through a"
  echo "tuned \`httputil.ReverseProxy\` (\`bench/refproxy\`). Keep-alive connections,"
  echo "\`GET /kib\` (1 KiB body), fixed concurrency, ${DURATION} per measurement after a"
  echo "${WARMUP} warm-up, ${ROUNDS} rounds (every target at every level once per round,"
  echo "interleaved); the figures are the medians of the rounds, with min–max."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, ${mem:-unknown memory}, Linux $(uname -r)"
  echo "- Go: $(go version | awk '{print $3}'); load generator: ${wrkv:-wrk}"
  echo
  echo "## Reproduce"
  echo
  echo '```sh'
  echo "make bench    # = make build && ./scripts/bench.sh"
  echo '```'
  echo
  echo "The script starts \`bin/paved server\` on free loopback ports with a temporary"
  echo "data dir, pushes \`examples/hello\` with 1 instance (route \`$HOST\`), starts"
  echo "\`bin/refproxy --listen ADDR --backend 127.0.0.1:INSTANCE_PORT\` and runs, per"
  echo "round, concurrency level and target, a warm-up then (ports are picked per run):"
  echo
  echo '```sh'
  for c in $CONNS; do
    for t in "${TARGETS[@]}"; do echo "${CMD[$t,$c]}"; done
  done
  echo '```'
  echo
  echo "## Results"
  echo
  echo "Latency is wrk's p50/p99 in ms. \"× direct\" is the ratio of the median req/s"
  echo "to the direct run's median at the same concurrency. Errors are socket errors plus"
  echo "non-2xx/3xx responses, summed over the rounds."
  for c in $CONNS; do
    echo
    echo "### $c connections (wrk -t$THREADS -c$c -d$DURATION, $ROUNDS rounds)"
    echo
    echo "| target | req/s median | req/s min–max | × direct | p50 (ms) | p99 (ms) | p99 min–max | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for t in "${TARGETS[@]}"; do
      echo "| $t | ${MRPS[$t,$c]} | ${SPREAD_RPS[$t,$c]} | $(ratio "${MRPS[$t,$c]}" "${MRPS[direct,$c]}") | ${MP50[$t,$c]} | ${MP99[$t,$c]} | ${SPREAD_P99[$t,$c]} | ${TERRS[$t,$c]} |"
    done
    echo
    echo "router / refproxy: $(ratio "${MRPS[router,$c]}" "${MRPS[refproxy,$c]}")×; router / splice (a Go TCP relay): $(ratio "${MRPS[router,$c]}" "${MRPS[splice,$c]}")×"
    [ -z "$NGINX_PID" ] || echo "router / nginx: $(ratio "${MRPS[router,$c]}" "${MRPS[nginx,$c]}")×"
  done
  echo
  echo "## Verdict"
  echo
  echo "**Floor \"router ≥ ${FLOOR}× direct\" (median req/s, every concurrency level): $VERDICT**"
  echo
  printf '%s\n' "${verdict_lines[@]}"
  if [ -n "$NGINX_PID" ]; then
    echo
    echo "**Targets against nginx (≥ 1.0× its req/s, p99 ≤ 1.5× its p99, ≥ 0.6× direct), medians: $([ "$TARGETS_MET" = yes ] && echo "all met" || echo "not all met")**"
    echo
    echo "| connections | router / nginx req/s | ≥ 1.0× | router / nginx p99 | ≤ 1.5× | router / direct | ≥ 0.6× | nginx / direct (for scale) |"
    echo "|---:|---:|---|---:|---|---:|---|---:|"
    printf '%s\n' "${target_lines[@]}"
    if [ ${#miss_lines[@]} -gt 0 ]; then
      echo
      echo "Where a target is missed, by how much:"
      echo
      printf '%s\n' "${miss_lines[@]}"
      echo
      echo "What limits a proxy here is the hop itself: each request costs it four socket"
      echo "system calls (read the request, write it to the instance, read the answer, write"
      echo "it back), and on loopback each write does the receiver's TCP work too, on cores"
      echo "that wrk and the instance need as well. The profile below shows the share of the"
      echo "router's CPU under those calls; nginx, doing the same calls, lands at the same"
      echo "fraction of direct."
    fi
  fi
  echo
  if [ -n "$PROFILE_TOP" ]; then
    echo "## Where the router's time goes"
    echo
    echo "A CPU profile of the cell (\`PAVED_PPROF\`, \`/debug/pprof/profile?seconds=$PROFILE_SECS\`) while wrk"
    echo "drives the router with $PROFILE_C connections, read with \`go tool pprof -top\`."
    [ -z "$PROFILE_SYSCALL" ] || echo "System calls (read, write, epoll) and the kernel under them take $PROFILE_SYSCALL of its samples."
    if [ -n "$PROFILE_ALLOCS" ]; then
      if [ "$PROFILE_ALLOCS" = 0 ]; then
        allocs_what="none: nothing on the request path allocates"
      else
        allocs_what="$PROFILE_ALLOCS objects, an estimate from a sampling profile (sites below)"
      fi
      echo "Over the same run (${PROFILE_REQS:-?} requests), heap allocations in the whole cell come to $allocs_what;"
      echo "lock contention (\`/debug/pprof/mutex\`, 1 in 100 events sampled) to ${PROFILE_MUTEX:-0} of waiting in all."
    fi
    echo
    echo '```'
    echo "$PROFILE_TOP"
    echo '```'
    echo
    if [ -n "$PROFILE_ALLOCS" ] && [ "$PROFILE_ALLOCS" != 0 ] && [ -n "$PROFILE_ALLOC_TOP" ]; then
      echo "Where the sampled allocations were made (\`go tool pprof -sample_index=alloc_objects -base\`):"
      echo
      echo '```'
      echo "$PROFILE_ALLOC_TOP"
      echo '```'
      echo
    fi
  fi
  echo "## Caveats"
  echo
  echo "- Everything runs on one machine over loopback. With $(nproc) CPUs, wrk (${THREADS}"
  echo "  threads), the proxy under test and the hello instance all share the same"
  echo "  cores, so a proxied run gives the backend less CPU than a direct run and"
  echo "  the ratios understate what a proxy achieves on a machine with spare cores."
  echo "  Compare the rows of one run with each other, not figures across machines."
  echo "- The machine may be shared with other workloads; numbers vary between runs."
  echo "- The router keeps the client's Host header and adds X-Forwarded-*; refproxy"
  echo "  rewrites Host to the backend and adds X-Forwarded-* (\`SetURL\` + \`SetXForwarded\`)."
} >"$tmp"
case "$OUT" in /*) ;; *) OUT=$ROOT/$OUT ;; esac
mv "$tmp" "$OUT"
OK=1
say "wrote $OUT: floor router ≥ ${FLOOR}× direct: $VERDICT"
printf '%s\n' "${verdict_lines[@]}" >&2
