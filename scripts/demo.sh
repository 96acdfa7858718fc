#!/usr/bin/env bash
# demo.sh up|down — the whole toolkit on this machine.
#
# up: builds bin/paved and the provider (and OpenTofu, cached, once), starts
# three cells — aws-eu-west-1, gcp-europe-west2 and onprem-london — and
# `tofu apply`s examples/donations (a replica set over the three) and
# examples/pipeline (CI/CD from a git repository it creates, on the first
# cell), then prints the URLs, the regions' status and how to clean up. A
# second run reuses the running cells and applies again (no changes).
#
# down: stops every process it started (the cells stop their apps) and
# removes the demo's data.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=${PAVED_DEMO_DIR:-$ROOT/.demo}
PAVED=$ROOT/bin/paved
REGIONS=(aws-eu-west-1 gcp-europe-west2 onprem-london)
API_PORTS=(7401 7402 7403)
ROUTER_PORTS=(7481 7482 7483)
PROVIDER_VERSION=0.1.0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# start_cell I: start region I unless it runs already.
start_cell() {
  local i=$1 name=${REGIONS[$1]} dir=$DEMO/cells/${REGIONS[$1]}
  mkdir -p "$dir"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    say "$name: running (pid $(cat "$dir/pid"))"
    return
  fi
  say "$name: starting (API http://127.0.0.1:${API_PORTS[$i]}, router http://127.0.0.1:${ROUTER_PORTS[$i]})"
  nohup "$PAVED" server --region "$name" --cloud "${name%%-*}" --data "$dir/data" --token "$TOKEN" \
    --api "127.0.0.1:${API_PORTS[$i]}" --router "127.0.0.1:${ROUTER_PORTS[$i]}" >"$dir/cell.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:${API_PORTS[$i]}/v1/health" >/dev/null 2>&1 && return
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$dir/cell.log" >&2
  die "$name did not start (log above, in $dir/cell.log); is port ${API_PORTS[$i]} or ${ROUTER_PORTS[$i]} taken?"
}

# provider_mirror: the provider built from this checkout, offered to
# OpenTofu as pavedroad/paved $PROVIDER_VERSION from a filesystem mirror.
provider_mirror() {
  local dir=$DEMO/mirror/registry.opentofu.org/pavedroad/paved/$PROVIDER_VERSION/$(go env GOOS)_$(go env GOARCH)
  mkdir -p "$dir"
  cp "$ROOT/bin/terraform-provider-paved" "$dir/terraform-provider-paved_v$PROVIDER_VERSION"
  cat >"$DEMO/tofurc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$DEMO/mirror"
    include = ["registry.opentofu.org/pavedroad/paved"]
  }
  direct {
    exclude = ["registry.opentofu.org/pavedroad/paved"]
  }
}
RC
}

# apply NAME ARGS…: tofu init + apply of examples/NAME in a working copy
# (examples/ and modules/ side by side, so relative sources resolve).
apply() {
  local name=$1
  shift
  mkdir -p "$DEMO/work/examples"
  rm -rf "$DEMO/work/modules" "$DEMO/work/examples/hello"
  cp -r "$ROOT/modules" "$DEMO/work/modules"
  cp -r "$ROOT/examples/hello" "$DEMO/work/examples/hello"
  mkdir -p "$DEMO/work/examples/$name"
  # Refresh the configuration, keep .terraform, the state and made files.
  (cd "$ROOT/examples/$name" && tar cf - --exclude=.terraform --exclude='*.tfstate*' --exclude=.repo .) |
    (cd "$DEMO/work/examples/$name" && tar xf -)
  # Each apply after the provider was rebuilt needs a fresh lock.
  rm -f "$DEMO/work/examples/$name/.terraform.lock.hcl"
  (cd "$DEMO/work/examples/$name" && "$TOFU" init -input=false >/dev/null && "$TOFU" apply -input=false -auto-approve -no-color "$@" | grep -E "^(Apply complete|No changes)")
}

up() {
  command -v git >/dev/null || die "git is needed"
  command -v curl >/dev/null || die "curl is needed"
  say "building paved and the provider"
  make -s build
  TOFU=$(./scripts/install-tofu.sh)
  mkdir -p "$DEMO"
  [ -f "$DEMO/token" ] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$DEMO/token"
  TOKEN=$(cat "$DEMO/token")
  for i in 0 1 2; do start_cell "$i"; done
  provider_mirror
  export TF_CLI_CONFIG_FILE=$DEMO/tofurc PAVED_TOKEN=$TOKEN TF_IN_AUTOMATION=1
  local endpoints="{" routers="{" tokens="{" i
  for i in 0 1 2; do
    endpoints+="\"${REGIONS[$i]}\" = \"http://127.0.0.1:${API_PORTS[$i]}\","
    routers+="\"${REGIONS[$i]}\" = \"http://127.0.0.1:${ROUTER_PORTS[$i]}\","
    tokens+="\"${REGIONS[$i]}\" = \"$TOKEN\","
  done
  say "tofu apply examples/donations (a replica set over the three regions)"
  apply donations -var "endpoints=${endpoints%,}}" -var "routers=${routers%,}}" -var "tokens=${tokens%,}}"
  say "tofu apply examples/pipeline (CI/CD from a local git repository, on ${REGIONS[0]})"
  PAVED_ENDPOINT=http://127.0.0.1:${API_PORTS[0]} apply pipeline -var "repository=$DEMO/work/repo"

  say "a donation through each region, and the merged total"
  for i in 0 1 2; do
    curl -fsS -H 'Host: donations.example.test' -d "{\"key\":\"demo-${REGIONS[$i]}\",\"amount\":500}" \
      "http://127.0.0.1:${ROUTER_PORTS[$i]}/donate" >/dev/null || true
  done
  sleep 2
  curl -fsS -H 'Host: donations.example.test' "http://127.0.0.1:${ROUTER_PORTS[2]}/total"
  echo
  say "the pipeline's app"
  curl -fsS -H 'Host: web.pipeline.example.test' "http://127.0.0.1:${ROUTER_PORTS[0]}/" || echo "(still rolling out)"
  local regions_env=""
  for i in 0 1 2; do regions_env+="${REGIONS[$i]}=http://127.0.0.1:${API_PORTS[$i]},"; done
  regions_env=${regions_env%,}
  say "the regions"
  PAVED_REGIONS=$regions_env "$PAVED" regions
  cat <<MSG

Donations (any region's router, Host donations.example.test):
  curl -H 'Host: donations.example.test' -d '{"key":"k1","amount":500}' http://127.0.0.1:${ROUTER_PORTS[0]}/donate
  curl -H 'Host: donations.example.test' http://127.0.0.1:${ROUTER_PORTS[1]}/total
Kill a region and keep donating through the others:
  kill -9 \$(cat $DEMO/cells/${REGIONS[0]}/pid)
The pipeline's app and repository (commit to main to ship):
  curl -H 'Host: web.pipeline.example.test' http://127.0.0.1:${ROUTER_PORTS[0]}/
  cd $DEMO/work/repo && git commit --allow-empty -m ship
Drive the cells:
  export PAVED_REGIONS=$regions_env PAVED_TOKEN=$TOKEN
  bin/paved regions --watch 1s
  PAVED_ENDPOINT=http://127.0.0.1:${API_PORTS[0]} bin/paved status
Stop everything and remove the demo's data: make demo-down
MSG
}

down() {
  local name pid
  for name in "${REGIONS[@]}"; do
    [ -f "$DEMO/cells/$name/pid" ] || continue
    pid=$(cat "$DEMO/cells/$name/pid")
    if kill -0 "$pid" 2>/dev/null; then
      say "$name: stopping (pid $pid) and its apps"
      kill -TERM "$pid"
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
  done
  rm -rf "$DEMO"
  say "demo stopped and its data removed"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
