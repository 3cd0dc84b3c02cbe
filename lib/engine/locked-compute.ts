import type { CachePolicy, CallScope } from '../types/policy';
import { withDeadline } from '../util/deadline';
import type { BatchLookup, Found } from './batch-lookup';
import type { EngineContext } from './context';
import { DistributedLock } from './distributed-lock';
import { sleep } from './factory-runner';
import type { Flight, Flights, Snapshot } from './flights';
import { checkFound, type Servable } from './read-guards';
import type { EntryWriter } from './entry-writer';
import type { Factory } from './topology';
import type { RemoteVersions } from './versions';
/** Runs the factory after a snapshot and writes the entry (awaited with `awaitWrite`: refresh()). */
export type RunComputation = <T>(
  flight: Flight<T>,
  factory: Factory<T>,
  policy: CachePolicy,
  scope: CallScope | undefined,
  snapshot: Snapshot | undefined,
  startedAt: number,
  awaitWrite: boolean,
) => Promise<T>;

/** Single-flight across processes (`lock` option), through a lock record in the shared store. */
export class LockedCompute {
  private readonly lock: DistributedLock;

  constructor(
    private readonly ctx: EngineContext,
    private readonly lookups: BatchLookup,
    private readonly versions: RemoteVersions,
    private readonly flights: Flights,
    private readonly run: RunComputation,
    /** validate/migrate, as a call judges what it reads: a holder may run other code (a deploy). */
    private readonly writer: EntryWriter,
  ) {
    this.lock = new DistributedLock(ctx);
  }

  /**
   * Across processes: the lock holder computes and writes before releasing; the others poll the
   * store for its value, take over if the lock expires (holder died), and after `waitMs` compute
   * themselves rather than wait longer. Taking the lock and the snapshot spend what is left of the
   * call's store-time budget (`storeDeadline`, performance.now()); waiting for a holder does not: past
   * it, the method runs and is not stored.
   */
  async compute<T>(
    flight: Flight<T>,
    factory: Factory<T>,
    policy: CachePolicy,
    scope: CallScope | undefined,
    startedAt: number,
    awaitWrite: boolean,
    storeDeadline: number,
  ): Promise<T> {
    let budgetEnd = storeDeadline;
    const inBudget = <R>(op: Promise<R>) => withDeadline(op, budgetEnd - performance.now());
    const lock = policy.lock!;
    const key = flight.key;
    const lockKey = `${key}:~lock`;
    const deadline = this.ctx.now() + lock.waitMs;
    let snapshotDone!: (snapshot: Snapshot | undefined) => void;
    flight.snapshot = new Promise((resolve) => (snapshotDone = resolve));
    let delay = 5;
    let waited = false;
    for (;;) {
      const attempt = await this.lock.acquire(lockKey, lock.ttlMs, budgetEnd - performance.now());
      // A refresh or set (awaitWrite) replaces what is stored: it never waits for another holder,
      // nor takes its value (the entry it was asked to replace); without the lock, it computes.
      if (attempt.state !== 'busy' || awaitWrite || this.ctx.now() >= deadline) {
        let writing: Promise<unknown> | undefined;
        try {
          // Acquired after waiting: the holder before may have stored the value just before releasing.
          if (waited && attempt.state === 'held') {
            const found = await this.lookup(key, policy, scope);
            if (found.state === 'fresh') return this.fromHolder(flight, found, policy, snapshotDone);
          }
          const outcome =
            attempt.state !== 'busy' ? (waited ? 'waited' : 'acquired') : awaitWrite ? undefined : 'timeout';
          if (outcome !== undefined)
            this.ctx.emit({ type: 'lock', key, store: this.ctx.name, owner: policy.owner, outcome });
          const snapshot = await inBudget(this.versions.snapshot(flight.deps, flight.epoch));
          snapshotDone(snapshot);
          const value = await this.run(flight, factory, policy, scope, snapshot, startedAt, awaitWrite);
          writing = flight.written;
          return value;
        } finally {
          if (attempt.state === 'held') {
            const release = () => this.lock.release(lockKey, attempt.token);
            // Held until the entry is written (waiters poll for it), released in the background
            // either way: the caller has its value (or error) now, whatever the store does.
            const released = writing === undefined ? release() : writing.then(release, release);
            void this.ctx.background.track(released.catch(() => undefined));
          }
        }
      }
      if (!waited) scope?.waiting?.();
      waited = true;
      const slept = performance.now();
      await sleep(delay);
      budgetEnd += performance.now() - slept;
      delay = Math.min(delay * 2, 100);
      const found = await this.lookup(key, policy, scope);
      if (found.state === 'fresh') return this.fromHolder(flight, found, policy, snapshotDone);
    }
  }

  /** What the holder stored, judged as a call judges it (an invalid value is a miss: keep waiting). */
  private lookup(key: string, policy: CachePolicy, scope: CallScope | undefined): Promise<Found> {
    const judge = (f: Found) =>
      f.state === 'miss' || policy.check === undefined ? f : checkFound(this.ctx, this.writer, key, policy, f);
    return this.lookups.lookup(key, scope?.etag, judge, policy.owner);
  }

  /** Another process's computation answered: joiners here compare against what it was computed from. */
  private fromHolder<T>(
    flight: Flight<T>,
    found: Servable,
    policy: CachePolicy,
    snapshotDone: (s: Snapshot | undefined) => void,
  ): T {
    this.ctx.emit({ type: 'lock', key: flight.key, store: this.ctx.name, owner: policy.owner, outcome: 'waited' });
    let recorded: Snapshot | undefined;
    try {
      const { deps, tokens } = found.view.dependencies(this.ctx.prefix);
      recorded = { epoch: found.view.epoch, deps, tokens };
    } catch {
      recorded = undefined;
    }
    snapshotDone(recorded);
    flight.resolved = true;
    this.flights.settle(flight);
    return found.value as T;
  }
}
