#!/usr/bin/env bash
# demo.sh up|down — start a cell in the background, push examples/hello with
# three instances and call it through the router; or stop it all again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=${PAVED_DEMO_DIR:-$ROOT/.demo}
API=${PAVED_DEMO_API:-127.0.0.1:7400}
ROUTER=${PAVED_DEMO_ROUTER:-127.0.0.1:7480}
PAVED=$ROOT/bin/paved
HOST=hello.demo.test

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

up() {
  [ -x "$PAVED" ] || { echo "bin/paved is missing: run make demo" >&2; exit 1; }
  mkdir -p "$DEMO"
  if [ -f "$DEMO/cell.pid" ] && kill -0 "$(cat "$DEMO/cell.pid")" 2>/dev/null; then
    say "a demo cell is already running (pid $(cat "$DEMO/cell.pid"))"
  else
    say "starting a cell: API http://$API, router http://$ROUTER, data $DEMO/data"
    nohup "$PAVED" server --region demo --cloud local --data "$DEMO/data" --api "$API" --router "$ROUTER" \
      >"$DEMO/cell.log" 2>&1 &
    echo $! >"$DEMO/cell.pid"
  fi
  export PAVED_ENDPOINT=http://$API
  for _ in $(seq 1 100); do
    curl -fsS "$PAVED_ENDPOINT/v1/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "$PAVED_ENDPOINT/v1/health" >/dev/null || { echo "the cell did not start; see $DEMO/cell.log" >&2; tail -20 "$DEMO/cell.log" >&2; exit 1; }
  PAVED_TOKEN=$(cat "$DEMO/data/admin.token")
  export PAVED_TOKEN

  "$PAVED" space create demo >/dev/null 2>&1 || true
  say "pushing examples/hello with 3 instances"
  "$PAVED" push examples/hello --space demo --app hello --instances 3 \
    --build 'go build -o hello .' --command ./hello --route "$HOST" --health-path /healthz

  say "calling it through the router"
  for _ in 1 2 3 4 5 6; do
    curl -fsS -H "Host: $HOST" "http://$ROUTER/"
  done
  echo
  "$PAVED" status
  cat <<MSG

The app answers at http://$ROUTER/ with the Host header $HOST:
  curl -H 'Host: $HOST' http://$ROUTER/
Drive the cell with:
  export PAVED_ENDPOINT=$PAVED_ENDPOINT PAVED_TOKEN=\$(cat $DEMO/data/admin.token)
  bin/paved status; bin/paved logs hello --space demo --follow
Stop everything with: make demo-down
MSG
}

down() {
  if [ -f "$DEMO/cell.pid" ]; then
    pid=$(cat "$DEMO/cell.pid")
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping the demo cell (pid $pid)"
      kill -TERM "$pid"
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$DEMO/cell.pid"
  fi
  say "demo stopped; its data stays in $DEMO (rm -rf it to start afresh)"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
