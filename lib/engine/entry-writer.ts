import type { EnvelopeMeta, EnvelopeView } from '../codec/envelope';
import type { UnverifiedEntryError, EntryCodec } from '../codec/entry-codec';
import type { CachePolicy, CallScope } from '../types/policy';
import { withDeadline } from '../util/deadline';
import type { EngineContext } from './context';
import { joinCheck, planEntry } from './entry-plan';
import type { FailedInvalidations } from './failed-invalidations';
import type { Flight, Snapshot } from './flights';
import type { RemoteObserver } from './remote-observer';
import type { RemoteVersions } from './versions';

/**
 * Writes a computed value to a shared store with what its computation read before it ran (the
 * epoch and its dependencies' tokens, plus result tags confirmed unchanged since). A value whose
 * computation an invalidation overtook is not written; nothing here can fail the call.
 */
export class EntryWriter {
  constructor(
    private readonly ctx: EngineContext,
    private readonly codec: EntryCodec,
    private readonly versions: RemoteVersions,
    private readonly failed: FailedInvalidations,
    private readonly observer: () => RemoteObserver,
  ) {}

  /**
   * Stores the value with what the computation read; a throwing cacheIf/resultTags costs the write,
   * never the value. 'declined': the value itself was not to be stored (skip, cacheIf, a ttl of 0,
   * a callback that threw, a value the codec refuses); 'failed': the store refused the write or
   * could not read the versions to record; 'overtaken': an invalidation came while it ran.
   */
  async write<T>(
    flight: Flight<T>,
    value: T,
    snapshot: Snapshot,
    policy: CachePolicy,
    scope: CallScope | undefined,
    startedAt: number,
  ): Promise<'declined' | 'failed' | 'overtaken' | undefined> {
    const { ctx } = this;
    const key = flight.key;
    try {
      const plan = planEntry(value, policy, scope, flight.control, () => flight.extraDeps(value, scope));
      if (plan === undefined) return 'declined';
      const stored = policy.storeResult ? value : undefined;
      // Serialized before any await: the caller gets the value next, and may change it.
      let body: Uint8Array;
      try {
        body = this.codec.body(stored);
        const taken = body;
        if (policy.storeResult) flight.copy = () => this.codec.serializer.decode(taken);
      } catch (error) {
        ctx.emit({ type: 'uncacheable', key, store: ctx.name, owner: policy.owner, error });
        return 'declined';
      }
      let recorded: Snapshot | undefined = snapshot;
      if (plan.extraDeps !== undefined) {
        // Read once for the write and the checks of callers that joined (the same dependencies).
        const r = await (flight.extended ??= this.versions.extend(snapshot, plan.extraDeps));
        if (r === undefined) return 'failed'; // the store could not tell
        recorded = r === 'overtaken' ? undefined : r;
      }
      // Overtaken by an invalidation (here, or of a result tag meanwhile), or one failed here: not stored.
      if (recorded === undefined || flight.cancelled || this.failed.affects(recorded.deps)) return 'overtaken';
      const lifetime = plan.ttlMs + plan.graceMs;
      if (plan.keepMs > policy.ttlMs + policy.graceMs) this.versions.registerLifetime(plan.keepMs);
      // Lifetimes count from the write, as in memory: a method slower than its ttl is still cached.
      const now = ctx.now();
      const meta: EnvelopeMeta = {
        createdAt: startedAt,
        freshUntil: now + plan.ttlMs,
        staleUntil: now + lifetime,
        epoch: recorded.epoch ?? '',
        etag: scope?.etag,
        deps: recorded.deps,
        tokens: recorded.tokens,
      };
      const bytes = await this.codec.encodeBody(key, meta, body);
      // A newer refresh or set of the key started meanwhile: its entry must be the last one written.
      if (flight.superseded) return 'overtaken';
      const ok = await ctx.guard.run(
        'set',
        key,
        () => ctx.store.set(key, bytes, plan.keepMs).then(() => true),
        false,
        false,
        policy.owner,
      );
      if (!ok) return 'failed';
      ctx.emit({ type: 'set', key, store: ctx.name, owner: policy.owner });
      // Detached while the write was on its way (an invalidation here): keep no in-process copy.
      if (!flight.cancelled) await this.observer().stored?.(key, stored, meta, flight.stamp);
    } catch (error) {
      ctx.emit({ type: 'error', key, store: ctx.name, owner: policy.owner, operation: 'policy', error });
      return 'declined';
    }
    return undefined;
  }

  /**
   * What callers that joined `flight` check before taking its value (flights.ts `joined`): the
   * versions of its result's dependencies, read once after it ran (and shared with the write), are
   * still current, and no invalidation of them failed here. A store that cannot tell: run again.
   */
  joinCheck<T>(flight: Flight<T>, value: T, snapshot: Snapshot | undefined, scope: CallScope | undefined) {
    return joinCheck(
      () => flight.extraDeps(value, scope),
      (extra) => async () => {
        if (snapshot === undefined) return false;
        const check = async () => {
          const r = await (flight.extended ??= this.versions.extend(snapshot, extra));
          if (typeof r !== 'object' || this.failed.affects(r.deps)) return false;
          return (await this.versions.unchanged(r.deps, r.tokens)) === true;
        };
        // A store that does not answer within a call's budget cannot tell: run again.
        return (await withDeadline(check(), this.ctx.operationTimeoutMs)) === true;
      },
    );
  }

  /** Writes a migrated value in place of an entry's: same deadlines, epoch and versions. */
  async rewrite(key: string, view: EnvelopeView, value: unknown, policy: CachePolicy): Promise<void> {
    const { ctx } = this;
    try {
      const { deps, tokens } = view.dependencies(ctx.prefix);
      const meta: EnvelopeMeta = {
        createdAt: view.createdAt,
        freshUntil: view.freshUntil,
        staleUntil: view.staleUntil,
        epoch: view.epoch,
        etag: view.etag,
        deps,
        tokens,
      };
      const keepMs =
        view.freshUntil + Math.max(view.staleUntil - view.freshUntil, policy.staleIfErrorMs ?? 0) - ctx.now();
      if (keepMs <= 0) return;
      const bytes = await this.codec.encode(key, meta, value);
      const { store } = ctx;
      const cas = store.compareAndSet;
      if (cas === undefined) {
        // A store without compare-and-set: a write landing since the read is overwritten (README).
        await ctx.guard.run('set', key, () => store.set(key, bytes, keepMs), undefined, false, policy.owner);
        return;
      }
      // Only over the bytes judged: a put or refresh that landed meanwhile is newer, and stays.
      const read = view.whole();
      await ctx.guard.run(
        'compareAndSet',
        key,
        () => cas.call(store, key, read, bytes, keepMs),
        false,
        false,
        policy.owner,
      );
    } catch (error) {
      ctx.emit({ type: 'error', key, store: ctx.name, owner: policy.owner, operation: 'migrate', error });
    }
  }
}

/** An entry that does not verify under this app's secrets: counted, reported, and treated as absent. */
export function reportUnverified(ctx: EngineContext, key: string, error: UnverifiedEntryError, owner?: string): void {
  ctx.emit({ type: 'tampered', key, store: ctx.name, owner, reason: error.reason });
}
