/** Counters of one namespace or one store. */
export interface CacheCounters {
  hits: number;
  misses: number;
  stale: number;
  errors: number;
  /** Results returned but not stored because they would not come back as they went in. */
  uncacheable: number;
  /** Entries of a shared store that did not verify under the configured `secret` (served as misses). */
  tampered: number;
  /** hits / (hits + misses + stale), 0 when nothing was read. */
  hitRatio: number;
}

export interface CacheStats {
  byNamespace: Record<string, CacheCounters>;
  byStore: Record<string, CacheCounters>;
  total: CacheCounters;
}

/** [hits, misses, stale, errors, uncacheable, tampered]: indexes into a method's or a store's counters. */
export type Counters = [number, number, number, number, number, number];
