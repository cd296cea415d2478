#!/bin/bash
# Guest side of run.sh: runs the kernel suites with vitest inside the VM.
# The checkout is on the read-only share (under a tmpfs overlay): every cache
# goes to /tmp; results go to the writable share /freight-out.
set -uo pipefail
export TMPDIR=/tmp HOME=/tmp/home XDG_CACHE_HOME=/tmp/cache npm_config_cache=/tmp/npm-cache
export FREIGHT_VITEST_CACHE=/tmp/vitest-cache CI=1 NO_COLOR=1 FREIGHT_DATAPLANE_DIST=1
mkdir -p "$HOME" "$XDG_CACHE_HOME"
# the modules the suites need, loaded up front so a missing one fails loudly here
for m in veth bridge vxlan geneve esp4 xfrm_user nf_tables 8021q; do
    modprobe "$m" || echo "guest: modprobe $m failed"
done
exec node node_modules/vitest/vitest.mjs run --config test/qemu/vitest.config.ts \
    --reporter=default --reporter=json --outputFile.json=/freight-out/results.json "$@"
