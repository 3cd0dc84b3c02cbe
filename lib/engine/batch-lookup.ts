import { withDeadline } from '../util/deadline';
import type { EnvelopeView } from '../codec/envelope';
import { UnverifiedEntryError, type EntryCodec } from '../codec/entry-codec';
import { asBuffer } from '../util/bytes';
import type { EngineContext } from './context';
import { ReadBatcher } from './read-batcher';
import type { RemoteVersions } from './versions';
import { reportUnverified } from './entry-writer';

/** Most lookups one multi-key read carries (a larger burst is sent as several). */
const MAX_READ_BATCH = 256;

/** An expired entry kept for stale-if-error, with what it was computed from (checked again before use). */
export interface Fallback {
  value: unknown;
  etag: string | undefined;
  deps: readonly string[];
  tokens: readonly string[];
}

/** What a lookup found in the shared store. */
export type Found =
  /** stamp: the in-process logical time before the read was sent (a two-tier L1 fill records it). */
  | { state: 'fresh' | 'stale'; value: unknown; view: EnvelopeView; epoch: string | undefined; stamp: number }
  /**
   * reachable false: the store did not answer within the call's budget; nothing can be joined or
   * stored. deadline: when the call's store-time budget ends (performance.now()), for the read a
   * computation does before it runs.
   */
  | {
      state: 'miss';
      epoch: string | undefined;
      reachable: boolean;
      deadline: number;
      /** An entry past its grace but within the caller's stale-if-error window, still valid. */
      fallback?: Fallback;
    };

const unreachable = (): Found => ({ state: 'miss', epoch: undefined, reachable: false, deadline: 0 });

class Pending {
  constructor(
    readonly key: string,
    readonly etag: string | undefined,
    /** The method asking (store errors name it, and its onError hook fires). */
    readonly owner: string | undefined,
    readonly resolve: (found: Found) => void,
    readonly reject: (error: unknown) => void,
    /** How long past its grace an entry is still wanted (stale-if-error), ms. */
    readonly keepMs: number,
  ) {}
}

type Decided = Found | { state: 'check'; view: EnvelopeView; deps: string[]; tokens: string[] };

/**
 * Lookups in a shared store, batched: the lookups that start before the end of the current
 * microtask queue travel as one multi-key read whose first key is the epoch (one MGET on Redis).
 * An entry written under the current epoch is decided from its header alone; the others read
 * their dependencies' tokens (one more batched read). A lookup only joins a batch that has not been
 * sent, so it sees every invalidation that completed before it started. Store time per lookup is
 * bounded by the operation timeout in total; past it the caller runs uncached.
 */
export class BatchLookup {
  private readonly batcher = new ReadBatcher<Pending>(MAX_READ_BATCH, (batch) => this.send(batch));
  /** Batches sent and not yet answered, by sequence number. */
  private readonly outstanding = new Set<number>();
  private sent = 0;
  private waiters: Array<{ upTo: number; run: () => void }> = [];

  constructor(
    private readonly ctx: EngineContext,
    private readonly versions: RemoteVersions,
    private readonly codec: EntryCodec,
    /** Dependencies whose invalidation failed here: entries carrying one are misses until it succeeds. */
    private readonly pendingDeps: ReadonlyMap<string, number>,
    private readonly stamp: () => number = () => 0,
  ) {}

  /** Looks `key` up; the promise settles with `then(found)`. */
  lookup<R>(
    key: string,
    etag: string | undefined,
    then: (found: Found) => R | Promise<R>,
    owner?: string,
    keepMs = 0,
  ): Promise<R> {
    // Answered for the whole batch at once; `then` runs as this caller's own continuation, so in
    // its async context (AsyncLocalStorage: a tenant, a trace, withCacheMode), never in the
    // context of the caller that sent the batch (binding each callback instead cost 3x on hits).
    return new Promise<Found>((resolve, reject) => {
      this.batcher.add(new Pending(key, etag, owner, resolve, reject, keepMs));
    }).then(then);
  }

  /**
   * Runs `run` once every batch sent so far has been answered. A computation stays joinable until
   * then: a lookup sent before its entry was written, answered after, must still find it.
   */
  afterSent(run: () => void): void {
    const upTo = this.sent;
    if (![...this.outstanding].some((seq) => seq <= upTo)) return run();
    this.waiters.push({ upTo, run });
  }

  private answered(seq: number): void {
    this.outstanding.delete(seq);
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => ![...this.outstanding].some((s) => s <= w.upTo));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.run();
  }

  private send(batch: Pending[]): void {
    const seq = ++this.sent;
    this.outstanding.add(seq);
    // The store-time budget of every call in the batch: measured, never taken from a wall clock.
    const started = performance.now();
    const stamp = this.stamp();
    const { ctx, versions } = this;
    const unique = new Map<string, number>();
    const keys: string[] = [versions.epochKey];
    let keep: Map<string, number> | undefined;
    for (const p of batch) {
      if (!unique.has(p.key)) {
        unique.set(p.key, keys.length);
        keys.push(p.key);
      }
      if (p.keepMs > 0) (keep ??= new Map()).set(p.key, Math.max(p.keepMs, keep.get(p.key) ?? 0));
    }
    // One timer per batch bounds the read even when the client's own command timeout is longer.
    withDeadline(
      ctx.guard.run('getMany', batch[0].key, () => ctx.store.getMany(keys), undefined, false, batch[0].owner),
      ctx.operationTimeoutMs,
    ).then(
      (values) => {
        if (values === undefined) {
          this.settleAll(batch, unreachable);
          return this.answered(seq);
        }
        void this.decideAll(batch, unique, values, started, stamp, keep).finally(() => this.answered(seq));
      },
      () => {
        this.settleAll(batch, unreachable);
        this.answered(seq);
      },
    );
  }

  private async decideAll(
    batch: Pending[],
    unique: Map<string, number>,
    values: Array<Uint8Array | undefined>,
    started: number,
    stamp: number,
    keep: Map<string, number> | undefined,
  ): Promise<void> {
    const epochBytes = values[0];
    const epoch = epochBytes === undefined ? undefined : asBuffer(epochBytes).toString('latin1');
    if (epoch === undefined) this.versions.seedEpoch();
    const now = this.ctx.now(); // one clock read judges the whole batch
    const decided = new Map<string, Decided>();
    const checks: Array<[string, Extract<Decided, { state: 'check' }>]> = [];
    for (const [key, index] of unique) {
      const d = this.decide(key, values[index], epoch, now, stamp, keep?.get(key) ?? 0, batch);
      decided.set(key, d);
      if (d.state === 'check') checks.push([key, d]);
    }
    if (checks.length > 0) await this.check(checks, decided, epoch, started, stamp, batch);
    const deadline = started + this.ctx.operationTimeoutMs;
    this.settleAll(batch, (p) => {
      const d = decided.get(p.key)!;
      if (d.state === 'check') return unreachable(); // (not reached: check() decides every one)
      if (d.state === 'miss') return { ...d, deadline, fallback: d.fallback?.etag === p.etag ? d.fallback : undefined };
      if (d.view.etag !== p.etag) return { state: 'miss', epoch, reachable: true, deadline };
      return d;
    });
  }

  /** From the header alone when the entry was written under the current epoch. */
  private decide(
    key: string,
    bytes: Uint8Array | undefined,
    epoch: string | undefined,
    now: number,
    stamp: number,
    keepMs: number,
    batch: readonly Pending[],
  ): Decided {
    if (bytes === undefined) return { state: 'miss', epoch, reachable: true, deadline: 0 };
    try {
      const view = this.codec.decode(key, bytes);
      // Past its grace: only worth checking as a stale-if-error fallback.
      if (view.staleUntil <= now && view.freshUntil + keepMs <= now)
        return { state: 'miss', epoch, reachable: true, deadline: 0 };
      if (epoch === undefined || view.epoch !== epoch || this.pendingDeps.size > 0) {
        const { deps, tokens } = view.dependencies(this.ctx.prefix);
        if (this.pendingDeps.size > 0 && deps.some((d) => this.pendingDeps.has(d)))
          return { state: 'miss', epoch, reachable: true, deadline: 0 };
        if (epoch === undefined || view.epoch !== epoch) return { state: 'check', view, deps, tokens };
      }
      return this.found(key, view, epoch, now, stamp, batch);
    } catch (error) {
      return this.unreadable(key, error, epoch, batch);
    }
  }

  /** Entries written under another epoch: fresh only while every dependency still has its token. */
  private async check(
    checks: Array<[string, Extract<Decided, { state: 'check' }>]>,
    decided: Map<string, Decided>,
    epoch: string | undefined,
    started: number,
    stamp: number,
    batch: readonly Pending[],
  ): Promise<void> {
    const results = await withDeadline(
      Promise.all(checks.map(([, c]) => this.versions.unchanged(c.deps, c.tokens))),
      this.ctx.operationTimeoutMs - (performance.now() - started),
    );
    const now = this.ctx.now();
    checks.forEach(([key, c], i) => {
      const ok = results?.[i];
      if (ok === undefined) decided.set(key, unreachable());
      else
        decided.set(
          key,
          ok
            ? this.found(key, c.view, epoch, now, stamp, batch)
            : { state: 'miss', epoch, reachable: true, deadline: 0 },
        );
    });
  }

  private found(
    key: string,
    view: EnvelopeView,
    epoch: string | undefined,
    now: number,
    stamp: number,
    batch: readonly Pending[],
  ): Found {
    let value: unknown;
    try {
      value = this.codec.value(view);
    } catch (error) {
      return this.unreadable(key, error, epoch, batch);
    }
    if (view.staleUntil <= now) {
      const { deps, tokens } = view.dependencies(this.ctx.prefix); // parsed by the check before: no throw here
      return { state: 'miss', epoch, reachable: true, deadline: 0, fallback: { value, etag: view.etag, deps, tokens } };
    }
    return { state: view.freshUntil > now ? 'fresh' : 'stale', value, view, epoch, stamp };
  }

  /** Garbage under a key (another app, another version, a corrupt write): a miss, overwritten by the next write. */
  private unreadable(key: string, error: unknown, epoch: string | undefined, batch: readonly Pending[]): Found {
    const owner = batch.find((p) => p.key === key)?.owner; // the method that read it (counted under it)
    if (error instanceof UnverifiedEntryError) reportUnverified(this.ctx, key, error, owner);
    else this.ctx.emit({ type: 'error', key, store: this.ctx.name, operation: 'decode', error, owner });
    return { state: 'miss', epoch, reachable: true, deadline: 0 };
  }

  private settleAll(batch: Pending[], found: (p: Pending) => Found): void {
    for (const p of batch) {
      try {
        p.resolve(found(p));
      } catch (error) {
        p.reject(error);
      }
    }
  }
}
