import type { CacheCounters, CacheStats, Counters } from '../types/stats';

/**
 * Always-on counters. Each memoized method's policy carries its own counter array, so a hit
 * costs two array increments — no lookup, no event object (see `npm run bench -- memory`).
 */
export class StatsCollector {
  private readonly byOwner = new Map<string, Counters>();
  private readonly byStore = new Map<string, Counters>();

  /** The counter array of a namespace (method), created once. */
  forOwner(owner: string | undefined): Counters {
    const o = owner ?? '(direct)';
    let a = this.byOwner.get(o);
    if (a === undefined) this.byOwner.set(o, (a = [0, 0, 0, 0, 0, 0]));
    return a;
  }

  forStore(store: string): Counters {
    let b = this.byStore.get(store);
    if (b === undefined) this.byStore.set(store, (b = [0, 0, 0, 0, 0, 0]));
    return b;
  }

  snapshot(): CacheStats {
    const total: Counters = [0, 0, 0, 0, 0, 0];
    const byNamespace: Record<string, CacheCounters> = {};
    for (const [k, v] of this.byOwner) {
      byNamespace[k] = counters(v);
      for (let i = 0; i < total.length; i++) total[i] += v[i];
    }
    const byStore: Record<string, CacheCounters> = {};
    for (const [k, v] of this.byStore) byStore[k] = counters(v);
    return { byNamespace, byStore, total: counters(total) };
  }

  reset(): void {
    for (const a of [...this.byOwner.values(), ...this.byStore.values()]) a.fill(0);
  }
}

function counters([hits, misses, stale, errors, uncacheable, tampered]: Counters): CacheCounters {
  const reads = hits + misses + stale;
  return { hits, misses, stale, errors, uncacheable, tampered, hitRatio: reads === 0 ? 0 : hits / reads };
}
