import type { CachePolicy, CallScope } from '../types/policy';
import { withDeadline } from '../util/deadline';
import type { EngineContext } from './context';
import type { EntryWriter } from './entry-writer';
import { Flight } from './flights';
import type { RemoteInvalidation } from './remote-invalidation';
import type { PutOutcome } from './topology';
import type { RemoteVersions } from './versions';

/** What a shared store's write-through uses of its topology. */
export interface WriteThroughParts {
  readonly ctx: EngineContext;
  readonly versions: RemoteVersions;
  readonly invalidation: RemoteInvalidation;
  readonly writer: EntryWriter;
  readonly stamp: () => number;
}

/**
 * `@CachePut` on a shared store. The entry records versions read before the write method runs,
 * as a computation's does: an invalidation of its tags while it runs leaves the entry stale.
 * Then its key is invalidated (every entry computed from the data before the write is stale) by
 * a compare-and-set of its bucket's token from the one read before: if another write-through or
 * key invalidation came since, its write may be the newer one, and this value is not stored.
 */
export async function writeThrough<T>(
  parts: WriteThroughParts,
  key: string,
  run: () => Promise<T>,
  policy: CachePolicy,
  scope: CallScope | undefined,
): Promise<PutOutcome<T>> {
  const { ctx, versions, invalidation, writer } = parts;
  const extra = scope?.deps;
  const bucket = versions.bucketOf(key);
  const deps =
    extra === undefined || extra.length === 0 ? [...policy.deps, bucket] : [...policy.deps, ...extra, bucket];
  const flight = new Flight<T>(key, deps, undefined);
  flight.stamp = parts.stamp(); // a tiered L1 copy is judged from here: invalidations since win
  const snapshot = await withDeadline(versions.snapshot(deps), ctx.operationTimeoutMs);
  const value = await run();
  try {
    if (snapshot === undefined) {
      await invalidation.keys([key]); // nothing read before: only invalidate
      return { value };
    }
    const last = snapshot.tokens.length - 1;
    const mine = await invalidation.keyPut(key, bucket, snapshot.tokens[last], snapshot.epoch);
    if (mine === undefined) return { value };
    const recorded = { epoch: mine.epoch, deps, tokens: [...snapshot.tokens.slice(0, last), mine.token] };
    await writer.write(flight, value, recorded, policy, scope, ctx.now());
    return { value };
  } catch (failure) {
    return { value, failure };
  }
}
