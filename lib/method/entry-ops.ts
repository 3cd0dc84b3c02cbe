import type { ResolvedMethod } from './resolved-method';

/** Per-entry control of a memoized method (handles, @CachePut): memoize's ttl/expire, dogpile's set. */

/** Stores `value` as the entry of these arguments (as if computed now); resolves once stored. */
export async function setEntry(m: ResolvedMethod, args: unknown[], value: unknown, instance?: unknown): Promise<void> {
  const key = m.keyFor(args, instance);
  await m.memoizer.refresh(key, () => value, m.policy, m.scopeFor(args, key));
}

/** Milliseconds the entry of these arguments stays fresh, or undefined when a call would not hit. */
export async function entryTtl(m: ResolvedMethod, args: unknown[], instance?: unknown): Promise<number | undefined> {
  const key = m.keyFor(args, instance);
  const found = await m.memoizer.inspect(key, m.scopeFor(args, key), m.policy);
  if (found.state !== 'fresh' || found.expiresAt === undefined) return undefined;
  return Math.max(0, found.expiresAt - Math.ceil(m.memoizer.ctx.now()));
}

/** The entry of these arguments stays fresh for `ms` from now, not recomputed; false when there is none. */
export function expireEntryIn(m: ResolvedMethod, args: unknown[], ms: number, instance?: unknown): Promise<boolean> {
  const key = m.keyFor(args, instance);
  return m.memoizer.expire(key, ms, m.policy, m.scopeFor(args, key));
}
