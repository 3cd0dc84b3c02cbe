/** Prints one plain closing line, `tests: N passed, N failed[, N skipped]`, after Jest's own summary. */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `tests: ${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
    // Jest's own summary goes to stderr: print there too so this stays the closing line either way.
    process.stderr.write(line);
    process.stdout.write(line);
  }
}
module.exports = SummaryReporter;
