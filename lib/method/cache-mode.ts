import { AsyncLocalStorage } from 'node:async_hooks';

/** 'refresh': memoized calls recompute and store; 'bypass': they neither read nor write the cache. */
export type CacheMode = 'refresh' | 'bypass';

/** Inside a `@CachePut` method: calls of the keys it puts read the source (the put stores them). */
interface PutScope {
  readonly keys: ReadonlySet<string>;
  readonly outer: CacheMode | undefined;
}

const storage = new AsyncLocalStorage<CacheMode | PutScope>();

/**
 * Runs `fn` with every memoized call inside it (however deep, across awaits) in `mode`,
 * without changing any method signature:
 *
 *   const fresh = await withCacheMode('refresh', () => this.users.getUser(id));
 */
export function withCacheMode<T>(mode: CacheMode, fn: () => T): T {
  const state = storage.getStore();
  return storage.run(typeof state === 'object' ? { keys: state.keys, outer: mode } : mode, fn);
}

export function currentCacheMode(): CacheMode | undefined {
  const state = storage.getStore();
  return typeof state === 'object' ? state.outer : state;
}

/** Runs a `@CachePut` method: a call of `key` inside it (`return this.users.getUser(id)`) runs uncached. */
export function withPutKey<T>(key: string, fn: () => T): T {
  const state = storage.getStore();
  const scope: PutScope =
    typeof state === 'object'
      ? { keys: new Set([...state.keys, key]), outer: state.outer }
      : { keys: new Set([key]), outer: state };
  return storage.run(scope, fn);
}

/** The cache mode of a call, and whether its key is being put by a `@CachePut` it runs within. */
export function cacheStateOf(): CacheMode | PutScope | undefined {
  return storage.getStore();
}

export function isPutKey(state: CacheMode | PutScope | undefined, key: string): boolean {
  return typeof state === 'object' && state.keys.has(key);
}
