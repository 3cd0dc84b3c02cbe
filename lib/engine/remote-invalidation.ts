import { withDeadline } from '../util/deadline';
import type { EngineContext } from './context';
import { BucketMoves } from './bucket-moves';
import { FailedInvalidations } from './failed-invalidations';
import type { Flights } from './flights';
import type { RemoteObserver } from './remote-observer';
import type { RemoteVersions } from './versions';

/** What an invalidation changes: dependency keys, entry keys, a cleared prefix. */
export interface Change {
  deps: readonly string[];
  keys: readonly string[];
  prefix?: string;
}

/**
 * Invalidations in a shared store: computations under way here are detached first (their
 * results are not stored), then new version tokens are written, then (tiered) the change is
 * announced; each resolves only once durable, and a failure is remembered and retried.
 */
export class RemoteInvalidation {
  readonly failed: FailedInvalidations;
  /** This process's refreshes', sets' and puts' moves of key buckets (replaceKey, keyPut). */
  private readonly moves = new BucketMoves();

  constructor(
    private readonly ctx: EngineContext,
    private readonly versions: RemoteVersions,
    private readonly flights: Flights,
    private readonly observer: () => RemoteObserver,
  ) {
    // A retry writes the versions again and announces them again (a tiered bus may have failed).
    this.failed = new FailedInvalidations(ctx, async (deps) => {
      await this.versions.invalidate(deps);
      await this.observer().announce?.({ deps, keys: [] });
    });
  }

  /** Another instance invalidated: computations here that depend on it are not stored. */
  detach(change: Change): void {
    this.flights.detachKeys(change.keys);
    this.flights.detachWhere(new Set(change.deps), change.prefix);
  }

  async deps(deps: readonly string[]): Promise<void> {
    const change = { deps, keys: [] };
    this.applyHere(change);
    await this.failed.attempt(deps, async () => {
      await this.versions.invalidate(deps);
      await this.observer().announce?.(change);
    });
    this.applyHere(change); // durable: see applyHere
    this.ctx.emit({ type: 'invalidate', tags: deps, store: this.ctx.name });
  }

  /**
   * refresh()/set() whose new value is not stored (declined, refused by the codec or the store):
   * the old entry must not stay served. Awaited as an invalidation is (on a tiered store, until
   * other instances have dropped their copies), or at most `waitMs`. If it fails too, this
   * instance stops serving the key and retries, as for any failed invalidation; the caller is not failed.
   */
  async replaced(key: string, waitMs?: number): Promise<void> {
    const run = this.ctx.background.track(this.keys([key]).catch(() => undefined));
    await (waitMs === undefined ? run : withDeadline(run, waitMs));
  }

  async keys(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const buckets = [...new Set(keys.map((k) => this.versions.bucketOf(k)))];
    await this.keysWith(keys, buckets, () => this.versions.invalidate(buckets, false));
  }

  /**
   * A write-through's invalidation of its key: its bucket's token moves from `expected` (read,
   * with `epoch`, before the write method ran) to a new one, which resolves with the epoch its
   * entry records (versions.swap) — or, when another invalidation of the bucket came since, the
   * key is invalidated as any key is, and undefined resolves.
   */
  async keyPut(key: string, bucket: string, expected: string, epoch: string | undefined, startedAt: number) {
    let mine: { token: string; epoch: string | undefined } | undefined;
    await this.keysWith([key], [bucket], async () => {
      // Recorded: a refresh of another key of the bucket meeting this move can stand on it.
      mine = await this.swapped(bucket, expected, epoch, key, startedAt);
      if (mine === undefined) await this.versions.invalidate([bucket], false);
    });
    return mine;
  }

  /**
   * A refresh's or set's move of its key's bucket, from `expected` (read before it ran) to a new
   * token, which resolves with the token and epoch its entry records — or undefined when it is not
   * to write: a newer replacement of the key here moved the bucket (that one writes), or something
   * this process did not do moved it (the key is invalidated). See BucketMoves. The old entry is
   * deleted only when the version write fails; otherwise the write overwrites it, and its token
   * is stale either way.
   */
  async replaceKey(key: string, bucket: string, expected: string, epoch: string | undefined, startedAt: number) {
    const change = { deps: [bucket], keys: [key] };
    this.applyHere(change);
    let mine: { token: string; epoch: string | undefined } | undefined;
    let newer = false;
    await this.failed.attempt([bucket], async () => {
      for (let from = expected, tries = 0; mine === undefined && tries < 4; tries++) {
        const swap = () => this.swapped(bucket, from, epoch, key, startedAt);
        mine = await this.deletingOnFailure([key], swap);
        if (mine !== undefined) break;
        // Moves of this process from the same token still on their way: what they did decides.
        await withDeadline(Promise.all(this.moves.pending(bucket, from)), this.ctx.operationTimeoutMs);
        const seen = this.moves.follow(bucket, from, key, startedAt);
        if (seen === undefined) break;
        if (seen === 'newer') return void (newer = true);
        // Other keys' move only: it stands for this one, with this one's own epoch (its tokens decide).
        if (!seen.olderSameKey) mine = { token: seen.to, epoch };
        from = seen.to;
      }
      if (mine === undefined) await this.versions.invalidate([bucket], false);
      await this.observer().announce?.(change);
    });
    if (!newer) this.applyHere(change);
    return mine;
  }

  /** versions.swap, recorded as this process's move: confirmed when it lands, forgotten when not. */
  private async swapped(bucket: string, from: string, epoch: string | undefined, key: string, startedAt: number) {
    const move = this.moves.start(bucket, from, this.ctx.token(), key, startedAt);
    try {
      const mine = await this.versions.swap(bucket, move.from, epoch, move.to);
      if (mine === undefined) this.moves.forget(bucket, move);
      else this.moves.confirm(move);
      return mine;
    } catch (error) {
      this.moves.forget(bucket, move);
      throw error;
    }
  }

  /**
   * Runs a version write; when it fails, the keys' entries are deleted all the same: a store that
   * refuses writes (a full Redis under noeviction) still deletes, and other instances must not
   * serve them while the retry cannot land.
   */
  private async deletingOnFailure<R>(keys: readonly string[], write: () => Promise<R>): Promise<R> {
    try {
      return await write();
    } catch (error) {
      const { guard, store } = this.ctx;
      await guard.run('deleteMany', keys[0], () => store.deleteMany(keys), 0, true).catch(() => undefined);
      throw error;
    }
  }

  private async keysWith(keys: readonly string[], buckets: string[], write: () => Promise<void>): Promise<void> {
    const change = { deps: buckets, keys };
    this.applyHere(change);
    const { guard, store } = this.ctx;
    await this.failed.attempt(buckets, async () => {
      await this.deletingOnFailure(keys, write);
      await guard.run('deleteMany', keys[0], () => store.deleteMany(keys), 0, true);
      await this.observer().announce?.(change);
    });
    this.applyHere(change);
    this.ctx.emit({ type: 'invalidate', keys, store: this.ctx.name });
  }

  async clear(prefix: string, allDep: string): Promise<void> {
    const change = { deps: [allDep], keys: [], prefix };
    this.applyHere(change);
    await this.failed.attempt([allDep], async () => {
      await this.versions.invalidate([allDep]);
      await this.ctx.guard.run('clear', prefix, () => this.ctx.store.clear(prefix), undefined, true);
      await this.observer().announce?.(change);
    });
    this.applyHere(change);
    this.ctx.emit({ type: 'invalidate', prefix, store: this.ctx.name });
  }

  /**
   * Detaches the computations here and (tiered) drops L1 copies and moves the local versions —
   * before the store is written, and again once it is durable: a lookup or computation that
   * started in between read the store before the change and may have put an old copy in L1
   * (found by review: a key invalidation's old value served from L1 for l1Ttl, 87 rounds in 300).
   */
  private applyHere(change: Change): void {
    this.detach(change);
    this.observer().invalidating?.(change);
  }

  close(): void {
    this.failed.stop();
  }
}
