#!/usr/bin/env bash
# The test command (README, .ci/run): dependencies, build, lint, every vitest suite, then
# the real-kernel suite under qemu (Debian's kernel: geneve, ESP) when the machine can
# run it. Ends with one line `tests: N passed, N failed, N skipped` over both.
# Arguments go to vitest and skip the kernel suite (a focused run).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh || exit 1
npm run build --silent || exit 1

out=$(mktemp -d)
rc=0
# Type check of the whole tree, ESLint and Prettier (npm run lint) before the suites: a finding fails the run
lint_failed=0
if ! npm run lint --silent; then
  echo "lint: FAILED (tsc -p tsconfig.eslint.json, eslint or prettier; npm run format fixes formatting and most findings; see docs/architecture.md)"
  lint_failed=1
  rc=1
fi
npx vitest run --reporter=default --reporter=json --outputFile.json="$out/host.json" "$@" || rc=$?

if [ $# -eq 0 ] && [ "${FREIGHT_SKIP_KERNEL:-}" != 1 ]; then
  FREIGHT_QEMU_OUT="$out/kernel" bash test/qemu/run.sh || rc=$?
elif [ $# -eq 0 ]; then
  echo "kernel suite: SKIPPED (FREIGHT_SKIP_KERNEL=1)"
fi

LINT_FAILED=$lint_failed node -e '
  const fs = require("fs");
  let p = 0, f = 0, s = 0;
  // a file that fails outside any test (a hook, an import) counts as one failure
  const failedOutsideTests = (r) => (r.testResults || []).filter((t) => t.status === "failed" && !(t.assertionResults || []).some((a) => a.status === "failed")).length;
  for (const file of process.argv.slice(1)) {
    if (!fs.existsSync(file)) continue;
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    p += r.numPassedTests; f += r.numFailedTests + failedOutsideTests(r); s += (r.numPendingTests || 0) + (r.numTodoTests || 0);
  }
  f += Number(process.env.LINT_FAILED || 0); // the lint step counts as one failure
  console.log(`tests: ${p} passed, ${f} failed, ${s} skipped`);
' "$out/host.json" "$out/kernel/results.json"
rm -rf "$out"
exit $rc
