import { AsyncLocalStorage } from 'node:async_hooks';

/** 'refresh': memoized calls recompute and store; 'bypass': they neither read nor write the cache. */
export type CacheMode = 'refresh' | 'bypass';

/** One `@CachePut` under way, and the key it puts. */
interface PutMark {
  readonly key: string;
  active: boolean;
}

/** Inside `@CachePut` methods: calls of the keys they put read the source (the put stores them). */
interface PutScope {
  readonly puts: readonly PutMark[];
  readonly outer: CacheMode | undefined;
}

export type CacheState = CacheMode | PutScope | undefined;

const storage = new AsyncLocalStorage<CacheMode | PutScope>();

/**
 * Runs `fn` with every memoized call inside it (however deep, across awaits) in `mode`,
 * without changing any method signature:
 *
 *   const fresh = await withCacheMode('refresh', () => this.users.getUser(id));
 */
export function withCacheMode<T>(mode: CacheMode, fn: () => T): T {
  const state = storage.getStore();
  return storage.run(typeof state === 'object' ? { puts: state.puts, outer: mode } : mode, fn);
}

export function currentCacheMode(): CacheMode | undefined {
  return modeOf(storage.getStore());
}

/** The raw state of this call's context: read once per call, then `modeOf` and `isPutKey`. */
export function cacheStateOf(): CacheState {
  return storage.getStore();
}

export function modeOf(state: CacheState): CacheMode | undefined {
  return typeof state === 'object' ? state.outer : state;
}

/**
 * Runs a `@CachePut` method: a call of `key` inside it (`return this.users.getUser(id)`) runs
 * uncached until the method settles — not work it leaves behind (a timer, a listener).
 */
export async function withPutKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const state = storage.getStore();
  const mark: PutMark = { key, active: true };
  const scope: PutScope = { puts: [...(typeof state === 'object' ? state.puts : []), mark], outer: modeOf(state) };
  try {
    return await storage.run(scope, fn);
  } finally {
    mark.active = false;
  }
}

export function isPutKey(state: CacheState, key: string): boolean {
  return typeof state === 'object' && state.puts.some((p) => p.active && p.key === key);
}
