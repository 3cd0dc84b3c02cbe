import type { CachePolicy } from '../../lib/types/policy';

/** A policy as a decorated method would have it, with what a test changes. */
export function testPolicy(extra: Partial<CachePolicy> = {}): CachePolicy {
  return { owner: 'Test.method', ttlMs: 60_000, graceMs: 0, storeResult: true, deps: [], ...extra };
}
