#!/usr/bin/env bash
# The test command (README, .ci/run): build, then every vitest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
npx vitest run "$@"
