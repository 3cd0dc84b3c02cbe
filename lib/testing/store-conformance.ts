import assert from 'node:assert/strict';
import type { CacheStore } from '../types/store';
import { byteContract } from './conformance-bytes';
import { engineContract } from './conformance-engine';
import { sharedContract } from './conformance-shared';
import {
  bytes,
  sharesNothing,
  text,
  type ConformanceTestApi,
  type StoreUnderTest,
  type SuiteContext,
} from './suite-context';

export type { ConformanceTestApi, StoreUnderTest } from './suite-context';

let counter = 0;

/** The runner's globals: Jest's and Vitest's names, or Mocha's `before`/`after`. */
function runnerGlobals(): ConformanceTestApi {
  const g = globalThis as unknown as Partial<ConformanceTestApi> & {
    before?: ConformanceTestApi['beforeAll'];
    after?: ConformanceTestApi['afterAll'];
  };
  // Missing ones stay undefined: storeConformance names them.
  return {
    describe: g.describe!,
    it: g.it!,
    beforeAll: (g.beforeAll ?? g.before)!,
    afterAll: (g.afterAll ?? g.after)!,
    beforeEach: g.beforeEach!,
  };
}

/**
 * One suite every store runs against a real server (bentocache's registerCacheDriverTestSuite,
 * keyv's test-suite): the byte contract first, then the engine's behaviour on top of it. Call it
 * from a test file; `api` defaults to the test runner's globals (Jest, Vitest, Mocha with hooks).
 */
export function storeConformance(name: string, sut: StoreUnderTest, api: ConformanceTestApi = runnerGlobals()): void {
  const missing = (['describe', 'it', 'beforeAll', 'afterAll', 'beforeEach'] as const).filter(
    (f) => typeof api[f] !== 'function',
  );
  if (missing.length > 0)
    throw new TypeError(
      `storeConformance('${name}'): no ${missing.join(', ')} to register tests with. Run it under Jest, ` +
        `Vitest or Mocha (their globals), or pass the runner's functions as the third argument ` +
        `(node:test: { describe, it, beforeAll: before, afterAll: after, beforeEach }).`,
    );
  const { describe, beforeAll, afterAll, beforeEach } = api;
  const open = async (): Promise<CacheStore> => {
    const made = await sut.make();
    if (made.ready && !(await made.ready(5_000))) throw new Error(`${name}: store not ready after 5 s`);
    return made;
  };
  const close = async (s: CacheStore) => {
    await s.disconnect();
    await sut.close?.(s);
  };
  const c: SuiteContext = {
    name,
    sut,
    api,
    store: undefined as unknown as CacheStore, // opened in beforeAll
    p: '',
    open,
    close,
    second: async () => {
      const other = sut.connectAgain ? await sut.connectAgain(c.store) : await open();
      await c.store.set(`${c.p}seen`, bytes('v'), 60_000);
      if (text(await other.get(`${c.p}seen`)) === 'v') return other;
      await c.release(other);
      throw new assert.AssertionError({ message: sharesNothing(name) });
    },
    release: async (second) => (second === c.store ? undefined : close(second)),
  };
  describe(`store conformance: ${name}`, () => {
    beforeAll(async () => {
      c.store = await open();
    });
    afterAll(async () => {
      await close(c.store);
    });
    beforeEach(() => {
      c.p = `conf${process.pid}${Date.now().toString(36)}${counter++}:`;
    });
    byteContract(c);
    sharedContract(c);
    engineContract(c);
  });
}
