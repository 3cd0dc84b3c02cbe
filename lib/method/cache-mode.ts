import { AsyncLocalStorage } from 'node:async_hooks';

/** 'refresh': memoized calls recompute and store; 'bypass': they neither read nor write the cache. */
export type CacheMode = 'refresh' | 'bypass';

const storage = new AsyncLocalStorage<CacheMode>();

/**
 * Runs `fn` with every memoized call inside it (however deep, across awaits) in `mode`,
 * without changing any method signature:
 *
 *   const fresh = await withCacheMode('refresh', () => this.users.getUser(id));
 */
export function withCacheMode<T>(mode: CacheMode, fn: () => T): T {
  return storage.run(mode, fn);
}

export function currentCacheMode(): CacheMode | undefined {
  return storage.getStore();
}
