/*
 * The conformance kit (nestjs-cache-memoize/testing) must fail a custom store that is wrong, not
 * only pass the right ones (found by review: every store below passed all 16 tests, and the flaws
 * showed: a lock ran its method twice across two instances, a clear() of one app emptied another,
 * the next app given a store object ran uncached). The kit runs here on a simulated server whose
 * connections each serialise their commands, as a socket does.
 */
import { storeConformance, type ConformanceTestApi, type StoreUnderTest } from '../../lib/testing';
import { simUnderTest, type Flaws } from '../support/sim-store';

type Hook = () => Promise<void> | void;
interface Collected {
  tests: Array<{ name: string; fn: Hook }>;
  beforeAll: Hook[];
  afterAll: Hook[];
  beforeEach: Hook[];
}

/** The kit's tests, registered with a collecting runner instead of Jest's. */
function collect(sut: StoreUnderTest): Collected {
  const c: Collected = { tests: [], beforeAll: [], afterAll: [], beforeEach: [] };
  const path: string[] = [];
  const api: ConformanceTestApi = {
    describe: (name, fn) => {
      path.push(name);
      fn();
      path.pop();
    },
    it: (name, fn) => void c.tests.push({ name: [...path.slice(1), name].join(' › '), fn }),
    beforeAll: (fn) => void c.beforeAll.push(fn),
    afterAll: (fn) => void c.afterAll.push(fn),
    beforeEach: (fn) => void c.beforeEach.push(fn),
  };
  storeConformance('sim', sut, api);
  return c;
}

/** Runs the kit's tests whose name includes `only` (all when undefined): the names of those that failed. */
async function failures(flaws: Flaws, only?: string): Promise<string[]> {
  const kit = collect(simUnderTest(flaws));
  const failed: string[] = [];
  for (const hook of kit.beforeAll) await hook();
  try {
    for (const test of kit.tests.filter((t) => only === undefined || t.name.includes(only))) {
      for (const hook of kit.beforeEach) await hook();
      await Promise.resolve(test.fn()).catch(() => failed.push(test.name));
    }
  } finally {
    for (const hook of kit.afterAll) await hook();
  }
  return failed;
}

it('passes a correct custom store: every test', async () => {
  const kit = collect(simUnderTest({}));
  expect(kit.tests.length).toBeGreaterThan(20);
  expect(await failures({})).toEqual([]);
}, 60_000);

it.each<[string, Flaws, string]>([
  ['add: a read then a write', { nonAtomicAdd: true }, 'add: exactly one wins across two connections'],
  [
    'compareAndSet: a read then a write',
    { nonAtomicCas: true },
    'compareAndSet (when the store has it): exactly one wins across two connections',
  ],
  [
    'compareAndDelete: a read then a delete',
    { nonAtomicCad: true },
    'compareAndDelete (when the store has it): exactly one wins across two connections',
  ],
  ['add ignores its ttl', { addIgnoresTtl: true }, 'add keeps the key for its ttl only'],
  ['clear(prefix) as a glob', { globClear: true }, 'clear(prefix) takes the prefix literally'],
  ['disconnect() is final', { finalDisconnect: true }, 'works again after disconnect'],
  ['reads from a client-side cache', { staleReadsMs: 2_000 }, 'sees invalidations the moment they resolve'],
])(
  'fails a store whose %s',
  async (_flaw, flaws, test) => {
    const failed = await failures(flaws, test);
    expect(failed).toEqual([expect.stringContaining(test)]);
  },
  60_000,
);
