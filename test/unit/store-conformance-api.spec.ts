/*
 * storeConformance outside Jest's globals: a runner without them gets an error that says what to
 * pass, and a process-local store without connectAgain fails its two-instance check naming the fix.
 */
import { memoryStore } from '../../lib';
import { storeConformance, type ConformanceTestApi } from '../../lib/testing';
import { beforeExpiry } from '../../lib/testing/suite-context';

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

describe('beforeExpiry: a short-ttl step judged only when it ran before the ttl ended', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('a step that fails in time fails at once', async () => {
    let tries = 0;
    const failing = async () => {
      tries++;
      throw new Error('the store lost the key');
    };
    await expect(beforeExpiry(60_000, failing)).rejects.toThrow('the store lost the key');
    expect(tries).toBe(1);
  });

  it('a step that ran past the ttl is tried again (3 tries), and its last failure stands', async () => {
    let tries = 0;
    const late = async () => {
      tries++;
      await sleep(30);
      throw new Error(`late ${tries}`);
    };
    await expect(beforeExpiry(5, late)).rejects.toThrow('late 3');
    expect(tries).toBe(3);
  });

  it('a late try followed by one in time passes', async () => {
    let tries = 0;
    const onceLate = async () => {
      tries++;
      if (tries === 1) {
        await sleep(250);
        throw new Error('read after the expiry');
      }
    };
    await beforeExpiry(200, onceLate);
    expect(tries).toBe(2);
  });
});
