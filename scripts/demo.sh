#!/usr/bin/env bash
# `npm run demo [-- --once]`: installs what is missing, builds, runs the 3-node demo.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "npm run demo needs root (network namespaces, containers)" >&2; exit 2; }
bash scripts/ensure-deps.sh
npm run build --silent
exec npx tsx test/netns/demo.ts "$@"
