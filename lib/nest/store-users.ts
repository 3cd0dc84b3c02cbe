import type { CacheStore } from '../types/store';

/**
 * Who uses each store object. Apps in one process may be given the same store (a constant in a
 * shared config, a test suite's store): closing one app must not close the store under another
 * one, which would then run uncached and fail its invalidations.
 */
const users = new WeakMap<CacheStore, Set<object>>();

export function useStore(store: CacheStore, by: object): void {
  let set = users.get(store);
  if (set === undefined) users.set(store, (set = new Set()));
  set.add(by);
}

/** `by` is done with the store: true when nobody else uses it (it may be closed now). */
export function releaseStore(store: CacheStore, by: object): boolean {
  const set = users.get(store);
  set?.delete(by);
  return set === undefined || set.size === 0;
}
