#!/usr/bin/env bash
# Runs TiKV's own Go client (client-go) against the embedded cluster started from the CLI.
# Skipped, with a clear message, when Go is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null 2>&1; then
  echo "conformance: SKIPPED - Go is not installed (client-go needs it)"
  exit 0
fi
log=$(mktemp)
node bin/tikv-ts.mjs cluster --stores 3 --regions 4 --pd-port 0 --json >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 200); do
  grep -q '"pd"' "$log" && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "conformance: the cluster did not start"; exit 1; }
  sleep 0.1
done
pd=$(node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").split("\n").find(x=>x.startsWith("{"));console.log(JSON.parse(l).pd.join(","))' "$log")
echo "conformance: embedded cluster at PD $pd"
(cd conformance/go && go run . -pd "$pd")
