#!/usr/bin/env bash
# Formats the whole tree and applies ESLint's automatic fixes (type-only imports, needless
# assertions, stale disable comments), then lists what is left to fix by hand.
# `npm run format` runs this; `npm run lint` (run by `npm test`) checks the same.
set -uo pipefail
cd "$(dirname "$0")/.."
npx eslint --fix . >/dev/null  # findings without a fix are listed below
npx prettier --write . --log-level=warn || exit 1
npx eslint . || { echo "format-all: the findings above need a hand fix" >&2; exit 1; }
