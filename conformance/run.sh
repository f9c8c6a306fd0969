#!/usr/bin/env bash
# Runs TiKV's own Go client (client-go) against the embedded cluster started from the CLI.
# Skipped, with a clear message, when Go is not installed.
#
# Three clusters: API v1 with plain region boundaries (raw), API v1 with memcomparable ones
# (txn, then raw and txn together on it), and a fresh API v2 one (keyspace regions).
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

# Starts a CLI cluster with the given extra options; sets $pd to its PD endpoints and $control
# to its control channel URL. Not run in a
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
  control=$(node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").split("\n").find(x=>x.startsWith("{"));console.log(JSON.parse(l).control)' "$log")
}

# client-go logs every PD/TSO event; keep only our check lines and errors.
quiet() { grep -v '^\[20[0-9][0-9]/' || true; }

status=0
start_cluster
echo "conformance: raw checks (and a store restart) against embedded cluster at PD $pd"
"${TMPDIR:-/tmp}/tikv-ts-conformance" -pd "$pd" -control "$control" -only raw 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ] || status=1
start_cluster --region-key-encoding memcomparable
echo "conformance: txn checks against embedded cluster at PD $pd"
"${TMPDIR:-/tmp}/tikv-ts-conformance" -pd "$pd" -only txn 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ] || status=1
# The same cluster serves client-go's raw client too: one key space, as TiKV has.
echo "conformance: raw + txn checks on one memcomparable cluster at PD $pd"
"${TMPDIR:-/tmp}/tikv-ts-conformance" -pd "$pd" -only shared 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ] || status=1
start_cluster --api-version v2
echo "conformance: API v2 keyspace region checks against embedded cluster at PD $pd"
"${TMPDIR:-/tmp}/tikv-ts-conformance" -pd "$pd" -only v2 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ] || status=1
if [ $status = 0 ]; then echo "conformance: all checks passed"; else echo "conformance: FAILED"; fi
exit $status
