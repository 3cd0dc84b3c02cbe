import type { CachePolicy, CallScope } from '../types/policy';
import type { LocalCacheStore } from '../types/store';
import type { EngineContext } from './context';
import { planEntry } from './entry-plan';
import type { LocalFlight } from './local-entry';
import type { LocalVersions } from './local-versions';

/**
 * Stores a computed value unless its computation was overtaken; nothing here can fail the call.
 * `keySince`: from when an invalidation or replacement of its key overtakes it (a put's: its own).
 * True when the value itself declined to be stored (skip, cacheIf, a ttl of 0, a callback that threw).
 */
export function storeComputed<T>(
  ctx: EngineContext,
  store: LocalCacheStore,
  versions: LocalVersions,
  flight: LocalFlight<T>,
  value: T,
  policy: CachePolicy,
  scope: CallScope | undefined,
  keySince = flight.at,
): boolean {
  // Detached here, or its key invalidated or replaced since (`keySince`) by any engine on the store.
  if (flight.cancelled || !versions.keyUntouchedSince(flight.key, keySince)) return false;
  try {
    const plan = planEntry(value, policy, scope, flight.control, () => flight.extraDeps(value, scope));
    if (plan === undefined) return true;
    let meta = flight.meta;
    const at = flight.at;
    const extra = plan.extraDeps;
    if (extra !== undefined) {
      // A result tag invalidated while this computed: the value may predate it (and callers that joined run again).
      if (!versions.untouchedSince(at, extra)) return false;
      meta = versions.extend(meta, extra);
    }
    const now = ctx.now();
    const stored = policy.storeResult ? value : undefined;
    const { ttlMs, graceMs, keepMs } = plan;
    const fresh = now + ttlMs;
    store.putEntry(flight.key, stored, meta, at, fresh, fresh + graceMs, keepMs, now, flight.sum, flight.sig);
    ctx.emit({ type: 'set', key: flight.key, store: ctx.name, owner: policy.owner });
    return false;
  } catch (error) {
    ctx.emit({ type: 'error', key: flight.key, store: ctx.name, owner: policy.owner, operation: 'policy', error });
    return true;
  }
}

/**
 * Whether callers may join it: neither its key nor one of its dependencies invalidated since it
 * started — in another app on the store too, whose invalidations detach only its own computations.
 */
export function joinable(versions: LocalVersions, flight: LocalFlight<unknown>): boolean {
  return versions.keyUntouchedSince(flight.key, flight.at) && versions.untouchedSince(flight.at, flight.deps);
}
