#!/usr/bin/env bash
# npm run bench -- NAME [ARGS…]: one benchmark from bench/ (NAME.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: npm run bench -- NAME   (one of: $(ls bench/*.ts | xargs -n1 basename | sed 's/\.ts$//' | tr '\n' ' '))}
shift
[ -f "bench/$name.ts" ] || { echo "no benchmark bench/$name.ts" >&2; exit 2; }
FREIGHT_EXTRA_PACKAGES="dnsmasq-base dnsperf kea-admin kea-dhcp4-server" bash scripts/ensure-deps.sh
npm run build --silent
exec npx tsx "bench/$name.ts" "$@"
