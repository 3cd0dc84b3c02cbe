/**
 * Polls `cond` every `everyMs` until it holds, and throws naming `what` once `ms` have passed. A
 * bound on how long a test waits for something to happen, not an assertion on speed.
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 5_000,
  what = 'the condition',
  everyMs = 10,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${ms} ms)`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
