// Runs Jest (forwarding arguments), then prints one plain closing line
// `tests: N passed, N failed` so any CI log reader can count the run. Exits with Jest's code.
const { spawnSync } = require('node:child_process');
const { mkdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const out = join(__dirname, '..', '.tmp', 'jest-results.json');
mkdirSync(join(__dirname, '..', '.tmp'), { recursive: true });
const jest = require.resolve('jest/bin/jest');
const result = spawnSync(process.execPath, [jest, '--json', `--outputFile=${out}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
let line = 'tests: 0 passed, 1 failed';
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  const skipped = r.numPendingTests + r.numTodoTests;
  line = `tests: ${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
} catch {
  // no results file: Jest itself failed to run
}
console.log(line);
process.exit(result.status ?? 1);
