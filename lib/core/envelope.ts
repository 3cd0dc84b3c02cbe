/**
 * What every store keeps for a memoized call. Freshness is decided from these fields by the
 * memoizer, so memory, Redis and memcached behave alike whatever their native TTL granularity.
 */
export interface Envelope<T = unknown> {
  /** The value. */
  v: T;
  /** Created at: when the computation *started*, so an invalidation during it makes it stale. */
  c: number;
  /** Fresh until (epoch ms). */
  e: number;
  /** Servable as stale until (epoch ms); equals `e` without grace. */
  s: number;
  /** Tag keys (namespace segments + declared tags) whose timestamps can invalidate this entry. */
  t: readonly string[];
  /** Invalidation epoch of the shared store when the computation started (see Memoizer). */
  p?: string;
  /** Optional validation token (etag). */
  g?: string;
}

export function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    'v' in e &&
    typeof e.c === 'number' &&
    typeof e.e === 'number' &&
    typeof e.s === 'number' &&
    Array.isArray(e.t) &&
    e.t.every((t) => typeof t === 'string') &&
    (e.p === undefined || typeof e.p === 'string') &&
    (e.g === undefined || typeof e.g === 'string')
  );
}
