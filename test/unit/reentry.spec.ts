import { ancestors, computingSync } from '../../lib/engine/reentry';

/*
 * The keys whose computation started a call: a call that would join one of them would wait for
 * itself. Kept as the frames themselves — a batch's load calling a memoized method per id used to
 * copy the batch's keys on every call (20,000 ids: 30 s of blocked event loop; the figures are in
 * bench/results/batch-delegate-compare.log).
 */
describe('ancestors of a call', () => {
  it('none outside a computation', () => {
    expect(ancestors()).toBeUndefined();
  });

  it("a batch's keys, short and long, each found and nothing else", () => {
    for (const size of [1, 8, 9, 20_000]) {
      const keys = Array.from({ length: size }, (_, i) => `k${i}`);
      computingSync(keys, () => {
        const within = ancestors()!;
        expect([size, within.includes('k0'), within.includes(`k${size - 1}`)]).toEqual([size, true, true]);
        expect([size, within.includes(`k${size}`), within.includes('')]).toEqual([size, false, false]);
      });
    }
  });

  it('every enclosing computation counts, and what was captured stays as it was once they end', () => {
    const outer = Array.from({ length: 1_000 }, (_, i) => `batch:${i}`);
    let captured: ReturnType<typeof ancestors>;
    computingSync(outer, () =>
      computingSync(['item:1'], () => {
        captured = ancestors();
        computingSync(['inner'], () => expect(ancestors()!.includes('batch:999')).toBe(true));
      }),
    );
    expect(ancestors()).toBeUndefined();
    // Checked after the caller's lookup, once the frames have ended: the same answer.
    expect(['batch:0', 'batch:999', 'item:1', 'inner', 'other'].map((k) => captured!.includes(k))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });
});
