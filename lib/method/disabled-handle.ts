import { runDetached } from '../engine/reentry';
import { UnknownMethodError } from '../errors';
import type { MethodImpl } from './resolved-method';

/**
 * `cacheHandle()` of a method in an app with `enabled: false`: nothing is cached, so writes and
 * invalidations do nothing, lookups find nothing and refreshes run the method; asking for a key
 * says why there is none. It threw UnknownMethodError, failing the write paths that invalidate
 * through handles once the cache was turned off (new user's trial).
 */
export function disabledHandle(instance: object, name: string, original: MethodImpl): Record<string, unknown> {
  const owner = `${instance.constructor.name}.${name}`;
  const run = (...args: unknown[]) => runDetached(() => original.apply(instance, args), owner);
  const noKey = (): never => {
    throw new UnknownMethodError(`${owner} has no cache key: the cache is disabled (enabled: false).`);
  };
  const nothing = () => Promise.resolve(undefined);
  return {
    keyOf: noKey,
    keysOf: noKey,
    explain: noKey,
    explainMany: noKey,
    invalidate: nothing,
    invalidateMany: nothing,
    set: nothing,
    ttl: nothing,
    peek: nothing,
    peekMany: (ids: unknown) => Promise.resolve(Array.isArray(ids) ? ids.map(() => undefined) : []),
    expireIn: () => Promise.resolve(false),
    original: run,
    refresh: (...args: unknown[]) => Promise.resolve(run(...args)),
    refreshMany: (...args: unknown[]) => Promise.resolve(run(...args)),
  };
}
