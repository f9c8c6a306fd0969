#!/usr/bin/env bash
# Makes sure Debian's chromium is installed (used headless by the live-view browser test).
# Prints the binary's path on success; exits non-zero with a message when it cannot install
# (not root, no apt-get, no network). CI runs as root, so apt-get works there.
set -euo pipefail

BIN="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $BIN is missing and apt-get is not available" >&2
  exit 2
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-chromium: $BIN is missing and installing it needs root (apt-get install -y chromium)" >&2
  exit 3
fi
echo "ensure-chromium: installing chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends chromium >&2
if [ ! -x "$BIN" ]; then
  echo "ensure-chromium: apt-get finished but $BIN is still missing" >&2
  exit 4
fi
echo "$BIN"
