#!/usr/bin/env bash
# Runs TiKV's own Go client (client-go) against the embedded cluster started from the CLI.
# Skipped, with a clear message, when Go is not installed.
#
# Two clusters, as two real deployments would be: client-go's raw client routes by plain
# region boundaries (API v1 raw), its transactional client by memcomparable-encoded ones.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null 2>&1; then
  echo "conformance: SKIPPED - Go is not installed (client-go needs it)"
  exit 0
fi
(cd conformance/go && go build -o "${TMPDIR:-/tmp}/tikv-ts-conformance" .)
pids=()
logs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "${logs[@]}"
}
trap cleanup EXIT

# Starts a CLI cluster with the given extra options; sets $pd to its PD endpoints. Not run in a
# subshell, so the cleanup trap knows every cluster it must stop.
start_cluster() {
  local log
  log=$(mktemp)
  logs+=("$log")
  node bin/tikv-ts.mjs cluster --stores 3 --regions 4 --pd-port 0 --json "$@" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do
    grep -q '"pd"' "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "conformance: the cluster did not start" >&2; return 1; }
    sleep 0.1
  done
  pd=$(node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").split("\n").find(x=>x.startsWith("{"));console.log(JSON.parse(l).pd.join(","))' "$log")
}

# client-go logs every PD/TSO event; keep only our check lines and errors.
quiet() { grep -v '^\[20[0-9][0-9]/' || true; }

status=0
start_cluster
echo "conformance: raw checks against embedded cluster at PD $pd"
"${TMPDIR:-/tmp}/tikv-ts-conformance" -pd "$pd" -only raw 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ] || status=1
start_cluster --region-key-encoding memcomparable
echo "conformance: txn checks against embedded cluster at PD $pd"
"${TMPDIR:-/tmp}/tikv-ts-conformance" -pd "$pd" -only txn 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ] || status=1
if [ $status = 0 ]; then echo "conformance: all checks passed"; else echo "conformance: FAILED"; fi
exit $status
