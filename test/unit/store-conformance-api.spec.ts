/*
 * storeConformance outside Jest's globals: a runner without them gets an error that says what to
 * pass, and a process-local store without connectAgain fails its two-instance check naming the fix.
 */
import { memoryStore } from '../../lib';
import { storeConformance, type ConformanceTestApi } from '../../lib/testing';

type Fn = () => Promise<void> | void;

/** Registers like a runner, so single tests can be run by name. */
function collecting() {
  const tests = new Map<string, Fn>();
  const hooks = { beforeAll: [] as Fn[], afterAll: [] as Fn[], beforeEach: [] as Fn[] };
  const api: ConformanceTestApi = {
    describe: (_n, fn) => fn(),
    it: (n, fn) => void tests.set(n, fn),
    beforeAll: (fn) => void hooks.beforeAll.push(fn),
    afterAll: (fn) => void hooks.afterAll.push(fn),
    beforeEach: (fn) => void hooks.beforeEach.push(fn),
  };
  const run = async (name: string) => {
    const test = [...tests].find(([n]) => n.startsWith(name))?.[1];
    if (!test) throw new Error(`no test ${name}`);
    for (const h of hooks.beforeAll) await h();
    try {
      for (const h of hooks.beforeEach) await h();
      await test();
    } finally {
      for (const h of hooks.afterAll) await h();
    }
  };
  return { api, run, tests };
}

describe('storeConformance registration', () => {
  it('refuses a runner without describe/it/hooks, naming what is missing and what to pass', () => {
    const partial = { describe: () => undefined, it: () => undefined } as unknown as ConformanceTestApi;
    expect(() => storeConformance('mine', { make: () => memoryStore(), ttlGranularityMs: 1 }, partial)).toThrow(
      /storeConformance\('mine'\): no beforeAll, afterAll, beforeEach to register tests with.*node:test/,
    );
  });

  it('registers every test through the functions passed in', async () => {
    const { api, run, tests } = collecting();
    storeConformance('memory', { make: () => memoryStore(), ttlGranularityMs: 1, connectAgain: (s) => s }, api);
    expect(tests.size).toBeGreaterThan(10);
    await run('another instance sharing the store');
  });

  it('a process-local store without connectAgain fails its two-instance check naming connectAgain', async () => {
    const { api, run } = collecting();
    storeConformance('memory', { make: () => memoryStore(), ttlGranularityMs: 1 }, api);
    await expect(run('another instance sharing the store')).rejects.toThrow(
      /memory: a second instance did not read what the first wrote.*connectAgain: \(store\) => store/,
    );
  });

  it("falls back to Mocha's before/after when the globals have no beforeAll/afterAll", () => {
    const g = globalThis as Record<string, unknown>;
    const saved = Object.fromEntries(
      ['describe', 'it', 'beforeAll', 'afterAll', 'beforeEach', 'before', 'after'].map((k) => [k, g[k]]),
    );
    const hooks: string[] = [];
    try {
      Object.assign(g, {
        describe: (_n: string, fn: () => void) => fn(),
        it: () => undefined,
        beforeEach: () => undefined,
        beforeAll: undefined,
        afterAll: undefined,
        before: () => void hooks.push('before'),
        after: () => void hooks.push('after'),
      });
      storeConformance('mocha', { make: () => memoryStore(), ttlGranularityMs: 1, connectAgain: (s) => s });
    } finally {
      Object.assign(g, saved);
    }
    expect(hooks).toEqual(['before', 'after']);
  });
});
