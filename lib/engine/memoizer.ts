import { EntryCodec } from '../codec/entry-codec';
import { taggedJsonSerializer } from '../codec/tagged-json';
import type { CachePolicy, CallScope, Inspection } from '../types/policy';
import type { Serializer } from '../types/serializer';
import type { CacheStore, LocalCacheStore } from '../types/store';
import { TieredStore } from '../stores/tiered.store';
import { getOrSetMany, type BatchLoader } from './batch';
import { ancestors } from './reentry';
import { EngineContext, type EngineOptions } from './context';
import { LocalTopology } from './local';
import { RemoteTopology } from './remote';
import type { PutOutcome, Topology } from './topology';
import { TwoTierTopology } from './two-tier';

export type { EngineOptions } from './context';

export function isLocalStore(store: CacheStore): store is LocalCacheStore {
  return (store as Partial<LocalCacheStore>).local === true;
}

/**
 * The engine of one store (dogpile's region): it picks how the store is used once — in-process,
 * shared, or memory over shared — and every call, invalidation and inspection goes to that
 * topology. Framework-free: it knows keys, policies and stores, not Nest.
 */
export class Memoizer {
  readonly name: string;
  readonly ctx: EngineContext;
  /** The codec of a shared store's values. */
  readonly serializer: Serializer;
  private readonly topology: Topology;
  /** Longest wait of an invalidation for the bus's acknowledgements (bus.ts), 0 without a bus. */
  private readonly announceMs: number = 0;
  private readonly sync: LocalTopology | undefined;

  constructor(
    readonly store: CacheStore,
    options: EngineOptions = {},
  ) {
    const serializer = (this.serializer = options.serializer ?? taggedJsonSerializer);
    // The store's own signing and compression win over the module's.
    const own = store.entryOptions;
    const entries = { secret: own?.secret ?? options.secret, compress: own?.compress ?? options.compress };
    const codec = (ctx: EngineContext) => new EntryCodec(serializer, ctx.prefix, entries, `store '${ctx.name}'`);
    if (store instanceof TieredStore) {
      this.announceMs = store.bus === undefined ? 0 : store.leaseMs + 250;
      this.ctx = new EngineContext(store.l2, { ...options, name: options.name ?? store.kind });
      this.topology = new TwoTierTopology(this.ctx, store, codec(this.ctx));
    } else {
      this.ctx = new EngineContext(store, options);
      if (isLocalStore(store)) this.topology = this.sync = new LocalTopology(this.ctx, store);
      else this.topology = new RemoteTopology(this.ctx, codec(this.ctx));
    }
    this.name = this.ctx.name;
  }

  get breaker(): EngineContext['breaker'] {
    return this.ctx.breaker;
  }

  /** Answers synchronously (sync methods stay sync on it). */
  get isLocal(): boolean {
    return this.sync !== undefined;
  }

  isComputing(key: string): boolean {
    return this.topology.flights.isComputing(key);
  }

  /** Version records (shared stores) outlive entries of this lifetime. */
  registerLifetime(ms: number): void {
    this.topology.registerLifetime(ms);
  }

  /** `space` + `rest`: `key` in two parts, the first shared by every call (see Topology.getOrSet). */
  getOrSet<T>(
    key: string,
    factory: () => Promise<T> | T,
    policy: CachePolicy,
    scope?: CallScope,
    space?: string,
    rest?: string,
  ): Promise<T> {
    const within = ancestors();
    const s = within === undefined ? scope : { ...scope, ancestors: within };
    return this.topology.getOrSet(key, factory, policy, s, space, rest);
  }

  /**
   * Many distinct keys, each its own entry with every guarantee of getOrSet, read in one round trip;
   * the ones to compute are loaded together (`load` gets their positions, at most `maxBatch` each).
   */
  getOrSetMany<T>(
    keys: readonly string[],
    load: BatchLoader<T>,
    policy: CachePolicy,
    scopes?: ReadonlyArray<CallScope | undefined>,
    maxBatch?: number,
  ): Promise<T[]> {
    // Through getOrSet: each item carries the computations calling it, as a single call does.
    const { flights } = this.topology;
    return getOrSetMany((k, f, p, s) => this.getOrSet(k, f, p, s), keys, load, policy, scopes, maxBatch, flights);
  }

  /** Recomputes and stores every key, whatever is cached, in one load (split by `maxBatch`). */
  refreshMany<T>(
    keys: readonly string[],
    load: BatchLoader<T>,
    policy: CachePolicy,
    scopes?: ReadonlyArray<CallScope | undefined>,
    maxBatch?: number,
  ): Promise<T[]> {
    const { flights } = this.topology;
    return getOrSetMany(
      (k, f, p, s) => this.topology.refresh(k, f, p, s),
      keys,
      load,
      policy,
      scopes,
      maxBatch,
      flights,
    );
  }

  getOrSetSync<T>(
    key: string,
    factory: () => T,
    policy: CachePolicy,
    scope?: CallScope,
    space?: string,
    rest?: string,
  ): T {
    if (this.sync === undefined)
      throw new Error(`store '${this.name}' (${this.store.kind}) cannot answer synchronously.`);
    return this.sync.getOrSetSync(key, factory, policy, scope, space, rest);
  }

  /** Recomputes and stores whatever is cached; resolves once stored. */
  refresh<T>(key: string, factory: () => Promise<T> | T, policy: CachePolicy, scope?: CallScope): Promise<T> {
    return this.topology.refresh(key, factory, policy, scope);
  }

  /** Write-through (`@CachePut`): see Topology.put. */
  put<T>(key: string, run: () => Promise<T>, policy: CachePolicy, scope?: CallScope): Promise<PutOutcome<T>> {
    return this.topology.put(key, run, policy, scope);
  }

  /** What a call would find, without computing. */
  async inspect(key: string, scope?: CallScope, policy?: CachePolicy): Promise<Inspection> {
    const found = await this.topology.inspect(key, scope, policy);
    // The engine's clock has sub-millisecond resolution; a date is whole milliseconds.
    if (found.expiresAt !== undefined) found.expiresAt = Math.floor(found.expiresAt);
    return found;
  }

  /** The entry stays fresh for `freshForMs` from now, not recomputed; false when there is none. */
  expire(key: string, freshForMs: number, policy?: CachePolicy, scope?: CallScope): Promise<boolean> {
    return this.topology.expire(key, freshForMs, policy, scope);
  }

  invalidateKeys(keys: readonly string[]): Promise<void> {
    return this.topology.invalidateKeys(keys);
  }

  /** Tags and namespaces (as dependency keys). */
  invalidateDeps(deps: readonly string[]): Promise<void> {
    return this.topology.invalidateDeps(deps);
  }

  clear(prefix: string, allDep: string): Promise<void> {
    return this.topology.clear(prefix, allDep);
  }

  /**
   * Waits (bounded) for writes, refreshes, invalidations and a last try of failed ones, then
   * stops background work. On a tiered store with a bus, that try's announcement may wait for
   * acknowledgements for a lease more.
   */
  async close(timeoutMs: number = this.ctx.operationTimeoutMs): Promise<void> {
    this.ctx.closing = true;
    // An outage opened the circuit: the last try must reach the store, not be skipped with the calls.
    this.ctx.breaker.probeNow();
    this.ctx.background.startWaiting();
    await this.ctx.background.drain(timeoutMs + this.announceMs);
    this.topology.close();
  }

  /**
   * Dependencies whose invalidation was never written (after close: what shutdown leaves undone).
   * Waits up to `settleMs` for calls still under way, which a closed client fails at once.
   */
  async unwritten(settleMs: number): Promise<string[]> {
    await this.ctx.background.drain(settleMs);
    return this.ctx.background.undone();
  }
}
