/** The engine's getOrSetMany: when a batch loads, and what it loads, on the in-process store. */
import { Memoizer } from '../../lib/engine/memoizer';
import { memoryStore } from '../../lib/stores/memory.store';
import { testPolicy } from '../support/policy';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('getOrSetMany', () => {
  it('loads its other items without waiting for an item another call is computing', async () => {
    const m = new Memoizer(memoryStore(), { prefix: 'b' });
    const policy = testPolicy();
    const slow = deferred<string>();
    const single = m.getOrSet('b:2', () => slow.promise, policy);
    const loads: string[][] = [];
    const batch = m.getOrSetMany(
      ['b:1', 'b:2', 'b:3'],
      async (positions) => {
        loads.push(positions.map((p) => `b:${p + 1}`));
        return positions.map((p) => `v${p + 1}`);
      },
      policy,
      undefined,
    );
    await sleep(5);
    expect(loads).toEqual([['b:1', 'b:3']]); // loaded while b:2 is still being computed elsewhere
    slow.resolve('single');
    expect(await batch).toEqual(['v1', 'single', 'v3']);
    expect(await single).toBe('single');
  });

  it('serves stale items at once and refreshes every stale item in one load', async () => {
    let now = 1_000_000;
    const m = new Memoizer(memoryStore(), { prefix: 's', now: () => now });
    const policy = testPolicy({ ttlMs: 1_000, graceMs: 10_000 });
    const loads: number[][] = [];
    const load = async (positions: readonly number[]) => {
      loads.push([...positions]);
      return positions.map((p) => `v${p}@${now}`);
    };
    const keys = ['s:0', 's:1', 's:2'];
    expect(await m.getOrSetMany(keys, load, policy)).toEqual(['v0@1000000', 'v1@1000000', 'v2@1000000']);
    now += 2_000; // stale, within grace
    expect(await m.getOrSetMany(keys, load, policy)).toEqual(['v0@1000000', 'v1@1000000', 'v2@1000000']);
    await sleep(5);
    expect(loads).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]);
    expect(await m.getOrSetMany(keys, load, policy)).toEqual(['v0@1002000', 'v1@1002000', 'v2@1002000']);
  });

  it('rejects every item of a failed load and stores none of them', async () => {
    const m = new Memoizer(memoryStore(), { prefix: 'f' });
    const policy = testPolicy();
    let fail = true;
    const load = async (positions: readonly number[]) => {
      if (fail) throw new Error('down');
      return positions.map((p) => p * 2);
    };
    await expect(m.getOrSetMany(['f:0', 'f:1'], load, policy)).rejects.toThrow('down');
    fail = false;
    let calls = 0;
    expect(await m.getOrSetMany(['f:0', 'f:1'], async (p) => (calls++, load(p)), policy)).toEqual([0, 2]);
    expect(calls).toBe(1);
  });

  it('maxBatch: at most that many items per load', async () => {
    const m = new Memoizer(memoryStore(), { prefix: 'c' });
    const sizes: number[] = [];
    const keys = Array.from({ length: 10 }, (_, i) => `c:${i}`);
    const values = await m.getOrSetMany(
      keys,
      async (positions) => (sizes.push(positions.length), positions.map((p) => p)),
      testPolicy(),
      undefined,
      4,
    );
    expect(values).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sizes).toEqual([4, 4, 2]);
  });
});
