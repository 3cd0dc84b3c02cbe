import type { CacheStore } from '../stores/cache-store.interface';
import type { Serializer } from '../serialization/serializer.interface';
import type { Envelope } from './envelope';
import { decodeEnvelope, type EnvelopeView } from './envelope-codec';
import type { Lookup, MemoizePolicy } from './memoizer';
import { ReadBatcher } from './read-batch';
import { decodeAscii, type SharedState } from './shared-state';
import type { StoreGuard } from './store-guard';

export const MISS: Lookup<never> = { state: 'miss', epoch: undefined };
/** Most lookups one multi-key read carries (a larger burst is sent as several). */
const MAX_READ_BATCH = 256;

/**
 * A lookup waiting for its batch. With a factory it is a call (it settles with the method's
 * value); without one it is an inspection (it settles with the Lookup).
 */
export class PendingRead {
  readonly promise: Promise<unknown>;
  resolve!: (value: unknown) => void;
  reject!: (error: unknown) => void;

  constructor(
    readonly key: string,
    readonly policy: MemoizePolicy<never>,
    readonly factory: (() => unknown) | undefined,
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

export interface RemoteLookupContext {
  remote: CacheStore;
  guard: StoreGuard;
  shared: SharedState;
  serializer: Serializer;
  /** Clock skew allowed when comparing tag timestamps with an entry's creation, ms. */
  tolerance: number;
  expiryNow(): number;
  /** Garbage under a key: reported, then a miss. */
  unreadable(key: string, error: unknown, epoch: string | undefined): Lookup<never>;
  /** A tiered store fills its L1 from every L2 hit. */
  fillL1?(key: string, env: Envelope): void;
  /** Receives each lookup's outcome. */
  settle(read: PendingRead, lookup: Lookup<unknown>): void;
  fail(read: PendingRead, error: unknown): void;
}

/**
 * Lookups in a shared store, batched: the lookups of one burst travel as one multi-key read
 * whose first key is the invalidation epoch, and each entry's freshness is decided from its
 * envelope header. Tag timestamps are read only for entries written under another epoch.
 */
export class RemoteLookup {
  private readonly batcher = new ReadBatcher<PendingRead>(MAX_READ_BATCH, (batch) => this.send(batch));

  constructor(private readonly ctx: RemoteLookupContext) {}

  add(read: PendingRead): void {
    this.batcher.add(read);
  }

  private send(batch: PendingRead[]): void {
    const preparing = this.ctx.shared.prepare();
    if (preparing !== undefined) {
      void preparing.then(() => this.fetch(batch));
      return;
    }
    this.fetch(batch);
  }

  /** One multi-key read for the batch: the epoch first, then every entry (one round trip). */
  private fetch(batch: PendingRead[]): void {
    const { remote, guard, shared } = this.ctx;
    const keys = new Array<string>(batch.length + 1);
    keys[0] = shared.epochKey;
    for (let i = 0; i < batch.length; i++) keys[i + 1] = batch[i].key;
    const first = batch[0];
    guard.run('getMany', first.key, () => remote.getMany(keys), undefined, false, first.policy.owner).then(
      (values) => this.settleBatch(batch, values),
      (error: unknown) => {
        for (const read of batch) this.ctx.fail(read, error);
      },
    );
  }

  private settleBatch(batch: PendingRead[], values: Array<Uint8Array | undefined> | undefined): void {
    const epochBytes = values?.[0];
    const epoch = epochBytes === undefined ? undefined : decodeAscii(epochBytes);
    const now = this.ctx.expiryNow(); // one clock read judges the whole batch
    for (let i = 0; i < batch.length; i++) {
      const read = batch[i];
      try {
        // A failed read (store down) is a miss that proves nothing: no epoch to write under.
        const found = values === undefined ? MISS : this.decide(read.key, read.policy, values[i + 1], epoch, now);
        if (found instanceof Promise) found.then((lookup) => this.ctx.settle(read, lookup), (error: unknown) => this.ctx.fail(read, error));
        else this.ctx.settle(read, found);
      } catch (error) {
        this.ctx.fail(read, error);
      }
    }
  }

  /** Decides an entry read with the epoch (asynchronously only when tag timestamps must be read). */
  private decide(key: string, policy: Pick<MemoizePolicy, 'etag'>, bytes: Uint8Array | undefined, epoch: string | undefined, now: number): Lookup<unknown> | Promise<Lookup<unknown>> {
    if (bytes === undefined) return { state: 'miss', epoch };
    let env: EnvelopeView;
    try {
      env = decodeEnvelope(bytes);
      if (env.s <= now || env.g !== policy.etag) return { state: 'miss', epoch };
      if (epoch === undefined || env.p !== epoch) {
        const tags = env.tags();
        if (tags.length > 0) return this.checkTags(key, env, tags, epoch, now);
      }
    } catch (error) {
      return this.ctx.unreadable(key, error, epoch);
    }
    return this.value(key, env, epoch, now);
  }

  private async checkTags(key: string, env: EnvelopeView, tags: readonly string[], epoch: string | undefined, now: number): Promise<Lookup<unknown>> {
    const times = await this.ctx.guard.run('getMany', key, () => this.ctx.remote.getMany(tags), undefined);
    if (times === undefined) return { state: 'miss', epoch }; // cannot prove freshness
    for (const bytes of times) {
      if (bytes !== undefined && decodeTime(bytes) + this.ctx.tolerance >= env.c) return { state: 'miss', epoch };
    }
    return this.value(key, env, epoch, now);
  }

  private value(key: string, env: EnvelopeView, epoch: string | undefined, now: number): Lookup<unknown> {
    let value: unknown;
    try {
      value = env.value(this.ctx.serializer);
    } catch (error) {
      return this.ctx.unreadable(key, error, epoch);
    }
    if (this.ctx.fillL1 !== undefined) {
      try {
        this.ctx.fillL1(key, { v: value, c: env.c, e: env.e, s: env.s, t: env.tags(), ...(env.g === undefined ? {} : { g: env.g }) });
      } catch {
        // a corrupt tag list only costs the L1 copy
      }
    }
    return { state: env.e > now ? 'fresh' : 'stale', value, expiresAt: env.e, epoch };
  }
}

/** An unreadable tag timestamp must not resurrect entries: it counts as "invalidated now". */
function decodeTime(bytes: Uint8Array): number {
  const time = Number(decodeAscii(bytes));
  return Number.isFinite(time) ? time : Number.POSITIVE_INFINITY;
}
