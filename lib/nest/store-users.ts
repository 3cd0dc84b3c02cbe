import { TieredStore } from '../stores/tiered.store';
import type { CacheStore } from '../types/store';

/**
 * Who uses each store object. Apps in one process may be given the same store (a constant in a
 * shared config, a test suite's store), or one Redis store directly and inside a tiered store:
 * closing one app must not close a store under another, which would then run uncached and fail
 * its invalidations. A tiered store uses its L1 and L2 like an app does.
 */
const users = new WeakMap<CacheStore, Set<object>>();

/** Counted from the engine's construction: an app compiled before another one closes keeps its stores. */
export function useStore(store: CacheStore, by: object): void {
  let set = users.get(store);
  if (set === undefined) users.set(store, (set = new Set()));
  const first = set.size === 0;
  set.add(by);
  if (first && store instanceof TieredStore) for (const part of [store.l1, store.l2]) useStore(part, store);
}

/** `by` is done with the store: closes it (and its parts) once nobody else uses it. */
export async function releaseStore(store: CacheStore, by: object): Promise<void> {
  const set = users.get(store);
  if (set === undefined || !set.delete(by) || set.size > 0) return;
  if (!(store instanceof TieredStore)) return store.disconnect();
  await store.bus?.close();
  await Promise.all([releaseStore(store.l1, store), releaseStore(store.l2, store)]);
}
