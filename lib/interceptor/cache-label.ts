import { xCache } from './handler-info';

/**
 * When the handler run under way for a key started, per memoizer (held weakly). A request that
 * joined a run and was told its entry is stale got either the response stored before that run
 * started (STALE) or the run's own (MISS, though it may have been stored before the request came:
 * an outer interceptor holds the response that fills the entry; found by review).
 */
const starts = new WeakMap<object, Map<string, number>>();

/** `run`, recording when it starts until it settles. */
export function timedRun<T>(memoizer: object, key: string, run: () => Promise<T>): () => Promise<T> {
  return () => {
    let byKey = starts.get(memoizer);
    if (byKey === undefined) starts.set(memoizer, (byKey = new Map()));
    const at = Date.now();
    byKey.set(key, at);
    const forget = () => (byKey.get(key) === at ? byKey.delete(key) : undefined);
    return run().finally(forget);
  };
}

/**
 * For a request that joins a run under way: when responses became older than the one it may get
 * (the run's start; the request's own arrival while the run waits for a lock). Else undefined.
 */
export function joinedAt(memoizer: { isComputing(key: string): boolean }, key: string): number | undefined {
  return memoizer.isComputing(key) ? (starts.get(memoizer)?.get(key) ?? Date.now()) : undefined;
}

/**
 * X-Cache. `state` as the report callback set it (grace, staleIfError, hooks). STALE: this
 * request's handler failed and an expired response stood in (`fellBack`), or it joined a run and
 * got a response stored before that run began. MISS: it ran the handler, or got the run's response.
 * HIT: a fresh entry, served at once.
 */
export function cacheLabel(
  ran: boolean,
  fellBack: boolean,
  joined: number | undefined,
  state: string | undefined,
  storedAt: number | undefined,
): string {
  if (fellBack || (joined !== undefined && state === 'stale' && (storedAt ?? joined) < joined)) return 'STALE';
  // A fresh entry is served at once, even while a run refreshes it ahead (refreshAhead): HIT.
  return ran || (joined !== undefined && state !== 'fresh') ? 'MISS' : xCache(state);
}
