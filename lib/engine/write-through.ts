import type { CachePolicy, CallScope } from '../types/policy';
import { withDeadline } from '../util/deadline';
import type { EngineContext } from './context';
import type { EntryWriter } from './entry-writer';
import { Flight, type Snapshot } from './flights';
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
  // Its place among this process's replacements of the key (BucketMoves): when its write is done,
  // not when it started. A refresh started meanwhile may have read the row before the write, and
  // taking the put for the older one let it store that value over the put's.
  const wroteAt = performance.now();
  try {
    if (snapshot === undefined) {
      await invalidation.keys([key]); // nothing read before: only invalidate
      return { value };
    }
    const last = snapshot.tokens.length - 1;
    const mine = await invalidation.keyPut(key, bucket, snapshot.tokens[last], snapshot.epoch, wroteAt);
    if (mine === undefined) return { value };
    await writer.write(flight, value, withBucketToken(snapshot, mine), policy, scope, ctx.now());
    return { value };
  } catch (failure) {
    return { value, failure };
  }
}

/**
 * refresh() and set() on a shared store: the new value replaces the entry everywhere. As for a
 * `@CachePut`, the key's bucket token moves first, by compare-and-set from the one read before the
 * method ran, so an entry any earlier computation writes — here or on another instance, slow or
 * past its hard timeout — records a token already stale; then the value is written with the new
 * token. A bucket moved meanwhile is resolved by this process's own moves (BucketMoves): a newer
 * replacement of the key here wins, other keys' moves stand for this one, an older replacement of
 * the key is moved past; anything else invalidates the key. Whatever keeps the value from being
 * stored, the old entry is gone with the bucket's token. Detachment does not stop a replacement
 * (the compare-and-set decides); being superseded here does, up to the moment of the write. A
 * store without compare-and-set writes over the old entry, and invalidates the key when it cannot.
 * A store that fails is never the caller's error.
 */
export async function replaceEntry<T>(
  parts: WriteThroughParts,
  flight: Flight<T>,
  value: T,
  snapshot: Snapshot | undefined,
  policy: CachePolicy,
  scope: CallScope | undefined,
  startedAt: number,
): Promise<void> {
  const { ctx, invalidation, writer } = parts;
  const key = flight.key;
  // Unread versions: the store is not answering in time, and the caller waits no longer for it.
  if (snapshot === undefined) return invalidation.replaced(key, ctx.operationTimeoutMs);
  flight.cancelled = false; // detached by an invalidation here: the compare-and-set below tells
  if (ctx.store.compareAndSet === undefined) {
    const written = flight.superseded
      ? 'superseded'
      : await (flight.written = writer.write(flight, value, snapshot, policy, scope, startedAt));
    return written === undefined ? undefined : invalidation.replaced(key);
  }
  const last = snapshot.tokens.length - 1;
  const bucket = snapshot.deps[last];
  const mine = await invalidation
    .replaceKey(key, bucket, snapshot.tokens[last], snapshot.epoch, flight.startedAt)
    .catch(() => undefined); // failed: recorded, this instance serves none of the key's entries and retries
  if (mine === undefined || flight.superseded) return;
  await (flight.written = writer.write(flight, value, withBucketToken(snapshot, mine), policy, scope, startedAt));
}

/** What an entry written after its bucket's move records: the snapshot, with the bucket's (last) new token and epoch. */
function withBucketToken(snapshot: Snapshot, moved: { token: string; epoch: string | undefined }): Snapshot {
  const last = snapshot.tokens.length - 1;
  return { epoch: moved.epoch, deps: snapshot.deps, tokens: [...snapshot.tokens.slice(0, last), moved.token] };
}
