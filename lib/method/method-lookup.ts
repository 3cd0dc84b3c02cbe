import { ErrorCache } from './error-cache';
import type { MethodExplanation } from './method-config';
import type { ResolvedMethod } from './resolved-method';

/** The cached value for these arguments if it is fresh, without computing (`undefined` otherwise). */
export async function peekCall(
  m: ResolvedMethod,
  args: unknown[],
  instance?: unknown,
): Promise<{ value: unknown } | undefined> {
  const key = m.keyFor(args, instance);
  const found = await m.memoizer.inspect(key, m.scopeFor(args, key), m.policy);
  // A cached error (cacheErrors) is no value.
  return found.state === 'fresh' && !ErrorCache.isError(found.value) ? { value: found.value } : undefined;
}

/** The key, the store and what a call with these arguments would find (without computing). */
export async function explainCall(m: ResolvedMethod, args: unknown[], instance?: unknown): Promise<MethodExplanation> {
  const key = m.keyFor(args, instance);
  const found = await m.memoizer.inspect(key, m.scopeFor(args, key), m.policy);
  const base = { method: m.owner, key, store: m.memoizer.name, namespace: m.namespace };
  return found.state === 'miss'
    ? { ...base, state: 'miss' }
    : { ...base, state: found.state, expiresAt: found.expiresAt, source: found.source };
}
