#!/usr/bin/env bash
# bench.sh — router throughput and latency, side by side, into BENCHMARKS.md.
#
# Starts a throwaway cell on free loopback ports, pushes examples/hello with
# one instance, puts bench/refproxy (a tuned httputil.ReverseProxy) in front
# of that instance, and for each concurrency level sends the same wrk load
# (keep-alive, GET /kib = 1 KiB responses) to
#
#   direct    the hello instance itself
#   splice    bench/spliceproxy, a TCP relay that reads no HTTP: the ceiling
#             of any proxy here (the cost of a second hop on shared cores)
#   nginx     nginx (Debian's) as a keep-alive reverse proxy, when installable
#   refproxy  the reference ReverseProxy
#   router    the paved router (Host: bench.test)
#
# then writes the figures to BENCHMARKS.md. Run it with `make bench` (which
# builds bin/paved first) or directly. Every process it starts is stopped on
# exit, Ctrl-C included. It exits non-zero when something fails to start or
# a measurement cannot be taken, but not when the router misses the floor
# (router >= 0.5x direct req/s): that is reported in BENCHMARKS.md.
#
# Knobs (environment):
#   BENCH_CONNS="16 64 256"  connection counts (fixed concurrency levels)
#   BENCH_THREADS=2          wrk threads
#   BENCH_DURATION=10s       length of one measurement
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
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
OUT=${BENCH_OUT:-BENCHMARKS.md}
HOST=bench.test
SPACE=bench
APP=hello
FLOOR=0.5

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup --

WORK=
CELL_PID=
REFPROXY_PID=
SPLICE_PID=
NGINX_PID=
INSTANCE_PID=
WRK_PID=
OK=0

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

# wait_http URL [CURL ARGS…]: wait up to 10 s for URL to answer 2xx.
wait_http() {
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

say "starting a cell: API $API_ADDR, router $ROUTER_ADDR, data $WORK/data"
"$PAVED" server --region bench --cloud local --data "$WORK/data" \
  --api "$API_ADDR" --router "$ROUTER_ADDR" --token "$TOKEN" >"$WORK/cell.log" 2>&1 &
CELL_PID=$!
if ! wait_http "$PAVED_ENDPOINT/v1/health"; then
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
  wait_http "${URL[$t]}" "${hargs[@]}" || die "$t (${URL[$t]}) does not answer; logs in $WORK"
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

# show_cmd WORDS…: a copy-pasteable rendering of a command line.
show_cmd() {
  local w out=
  for w in "$@"; do
    case "$w" in *[\ \']*) out+=" '$w'" ;; *) out+=" $w" ;; esac
  done
  echo "${out# }"
}

declare -A RPS P50 P99 ERRS CMD
for c in $CONNS; do
  for t in "${TARGETS[@]}"; do
    if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
      mapfile -t cmd < <(wrk_cmd "$t" "$c" "$WARMUP")
      run_wrk /dev/null "${cmd[@]}" || true
    fi
    mapfile -t cmd < <(wrk_cmd "$t" "$c" "$DURATION")
    CMD[$t,$c]=$(show_cmd "${cmd[@]}")
    say "$t, $c connections: ${CMD[$t,$c]}"
    log=$WORK/wrk-$t-$c.txt
    run_wrk "$log" "${cmd[@]}" || { cat "$log" >&2; die "wrk failed against $t"; }
    kill -0 "$CELL_PID" 2>/dev/null || die "the cell exited during the run; see $WORK/cell.log"
    kill -0 "$REFPROXY_PID" 2>/dev/null || die "refproxy exited during the run; see $WORK/refproxy.log"
    RPS[$t,$c]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$log")
    P50[$t,$c]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$log")")
    P99[$t,$c]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$log")")
    # Socket errors and non-2xx/3xx responses, summed.
    ERRS[$t,$c]=$(awk '
      /Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
      /Non-2xx or 3xx responses:/ { e += $NF }
      END { print e + 0 }' "$log")
    [ -n "${RPS[$t,$c]}" ] || { cat "$log" >&2; die "could not parse the wrk output of $t"; }
    printf '    %s req/s, p50 %s ms, p99 %s ms, errors %s\n' \
      "${RPS[$t,$c]}" "${P50[$t,$c]}" "${P99[$t,$c]}" "${ERRS[$t,$c]}" >&2
  done
done

# ----------------------------------------------------------------- report --

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)
mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null)
wrkv=$(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}') || true # wrk -v exits 1

VERDICT=PASS
verdict_lines=()
for c in $CONNS; do
  r=$(ratio "${RPS[router,$c]}" "${RPS[direct,$c]}")
  ok=$(awk -v r="$r" -v f="$FLOOR" 'BEGIN { print (r + 0 >= f) ? "yes" : "no" }')
  [ "$ok" = yes ] || VERDICT=FAIL
  verdict_lines+=("- $c connections: router ${RPS[router,$c]} req/s vs direct ${RPS[direct,$c]} req/s = ${r}× ($([ "$ok" = yes ] && echo "≥" || echo "<") ${FLOOR}×)")
done

tmp=$WORK/report.md
{
  echo "# Router benchmark"
  echo
  echo "Router throughput and latency against a single instance of \`examples/hello\`,"
  echo "side by side with the same load sent straight to that instance and through a"
  echo "tuned \`httputil.ReverseProxy\` (\`bench/refproxy\`). Keep-alive connections,"
  echo "\`GET /kib\` (1 KiB body), fixed concurrency, ${DURATION} per measurement after a"
  echo "${WARMUP} warm-up."
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
  echo "concurrency level and target, a warm-up then (ports are picked per run):"
  echo
  echo '```sh'
  for c in $CONNS; do
    for t in "${TARGETS[@]}"; do echo "${CMD[$t,$c]}"; done
  done
  echo '```'
  echo
  echo "## Results"
  echo
  echo "Latency is wrk's p50/p99 in ms. \"× direct\" is the req/s ratio to the"
  echo "direct run at the same concurrency. Errors are socket errors plus non-2xx/3xx"
  echo "responses."
  for c in $CONNS; do
    echo
    echo "### $c connections (wrk -t$THREADS -c$c -d$DURATION)"
    echo
    echo "| target | req/s | × direct | p50 (ms) | p99 (ms) | errors |"
    echo "|---|---:|---:|---:|---:|---:|"
    for t in "${TARGETS[@]}"; do
      echo "| $t | ${RPS[$t,$c]} | $(ratio "${RPS[$t,$c]}" "${RPS[direct,$c]}") | ${P50[$t,$c]} | ${P99[$t,$c]} | ${ERRS[$t,$c]} |"
    done
    echo
    echo "router / refproxy: $(ratio "${RPS[router,$c]}" "${RPS[refproxy,$c]}")×; router / splice (the ceiling of any proxy here): $(ratio "${RPS[router,$c]}" "${RPS[splice,$c]}")×"
    [ -z "$NGINX_PID" ] || echo "router / nginx: $(ratio "${RPS[router,$c]}" "${RPS[nginx,$c]}")×"
  done
  echo
  echo "## Verdict"
  echo
  echo "**Floor \"router ≥ ${FLOOR}× direct\" (req/s, every concurrency level): $VERDICT**"
  echo
  printf '%s\n' "${verdict_lines[@]}"
  echo
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
