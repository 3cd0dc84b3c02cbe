import type { CacheStore } from '../types/store';

/** The test functions the suite registers with (Jest's and Vitest's globals fit). */
export interface ConformanceTestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void> | void, timeoutMs?: number): void;
  beforeAll(fn: () => Promise<void> | void, timeoutMs?: number): void;
  afterAll(fn: () => Promise<void> | void, timeoutMs?: number): void;
  beforeEach(fn: () => Promise<void> | void): void;
}

export interface StoreUnderTest {
  /** A fresh store (may share the server with others). */
  make: () => CacheStore | Promise<CacheStore>;
  /** Smallest TTL the store honours exactly (memcached: whole seconds). */
  ttlGranularityMs: number;
  /** Closes what the store does not own (a client passed in). */
  close?: (store: CacheStore) => void | Promise<void>;
  /** A second connection to the same data, as another app instance would have (memory: itself). */
  connectAgain?: (first: CacheStore) => CacheStore | Promise<CacheStore>;
}

/** What each group of the suite's tests reads: set by the suite's hooks before each test. */
export interface SuiteContext {
  readonly name: string;
  readonly sut: StoreUnderTest;
  readonly api: ConformanceTestApi;
  /** The suite's store, opened once. */
  store: CacheStore;
  /** This test's own key prefix (ends with ':'). */
  p: string;
  /** Opens another store from `make`, ready. */
  open(): Promise<CacheStore>;
  /** Disconnects a store and closes what it does not own. */
  close(store: CacheStore): Promise<void>;
  /** A second connection to the suite's data (another app instance); fails, naming connectAgain, when it sees none of it. */
  second(): Promise<CacheStore>;
  /** Closes what `second()` opened (nothing when it is the suite's store). */
  release(second: CacheStore): Promise<void>;
}

export const bytes = (s: string) => new Uint8Array(Buffer.from(s));
export const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString());
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `step`, which writes keys with a short `ttlMs` and acts on them before they expire, again
 * (3 tries in all) when it did not end within `ttlMs` of its start: on a stalled machine its
 * reads and touches may come after the expiry, and then prove nothing either way.
 */
export async function beforeExpiry(ttlMs: number, step: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    const outcome = await step().then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    if (performance.now() - started < ttlMs || attempt === 3) {
      if (outcome !== undefined) throw outcome.error;
      return;
    }
  }
}

/** What a store fails with when a second connection (another instance) does not see the first's data. */
export const sharesNothing = (name: string) =>
  `${name}: a second instance did not read what the first wrote. For a store whose data lives in ` +
  `the process, pass connectAgain: (store) => store.`;
