// Prints a short summary of a vitest JSON results file (run.sh, on the host,
// after the VM exits), so failures are readable in CI logs.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const r = JSON.parse(readFileSync(file, 'utf8'));
console.log(
  `freight-qemu: kernel suites: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ` +
    `${r.numPendingTests + (r.numTodoTests ?? 0)} skipped, ${r.numTotalTests} total ` +
    `in ${(r.testResults ?? []).length} files`,
);
for (const suite of r.testResults ?? []) {
  const name = suite.name.replace(/^.*\/test\//, 'test/');
  if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) {
    console.log(`  FAIL ${name}: ${suite.message ?? 'suite failed'}`);
  }
  for (const t of suite.assertionResults ?? []) {
    if (t.status !== 'failed') continue;
    console.log(`  FAIL ${name} > ${t.fullName}`);
    for (const m of t.failureMessages ?? []) console.log('       ' + m.split('\n').slice(0, 6).join('\n       '));
  }
}
