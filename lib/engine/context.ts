import { randomBytes } from 'node:crypto';
import type { CacheEvent, CacheEventListener } from '../types/events';
import type { CachePolicy, CallScope } from '../types/policy';
import type { Serializer } from '../types/serializer';
import type { EntryCodecOptions } from '../codec/entry-codec';
import type { CacheStore } from '../types/store';
import type { Counters } from '../types/stats';
import { Background } from './background';
import { CircuitBreaker } from './circuit-breaker';
import { Revalidation } from './revalidation';
import type { StatsCollector } from './stats';
import { StoreGuard } from './store-guard';
import { coarseWallClock, monotonicOf, monotonicWallClock } from '../util/clock';

/** Wraps each computation (e.g. in a tracing span). */
export type TraceCompute = <T>(key: string, owner: string | undefined, run: () => Promise<T>) => Promise<T>;

export interface EngineOptions {
  /** Name used in events and logs. */
  name?: string;
  /** Key prefix of the app: version records, the epoch and the bus channel live under it. Default 'cm'. */
  prefix?: string;
  serializer?: Serializer;
  /** Shared stores: HMAC secrets (the first signs, all verify) and compression of large values. */
  secret?: EntryCodecOptions['secret'];
  compress?: EntryCodecOptions['compress'];
  /** Store time one call may spend in total before it runs uncached, ms. Default 500. */
  operationTimeoutMs?: number;
  listener?: CacheEventListener;
  stats?: StatsCollector;
  /** Emit hit events to the listener (off unless someone listens: a hit then allocates nothing). */
  hotEvents?: () => boolean;
  traceCompute?: TraceCompute;
  /** Wall clock for ttl and grace (tests inject one). Invalidation never reads a clock. */
  now?: () => number;
  /** Circuit breaker tuning (tests). */
  circuitBreaker?: { failureThreshold?: number; cooldownMs?: number; maxCooldownMs?: number };
}

/** Hit, miss, stale, error, uncacheable: indexes into Counters. */
export const HIT = 0;
export const MISS = 1;
export const STALE = 2;
export const ERROR = 3;
export const UNCACHEABLE = 4;
export const TAMPERED = 5;

/**
 * What every topology of one store shares: its name, the guarded store, events, counters,
 * background work, failed-refresh back-off and a token source.
 */
export class EngineContext {
  readonly name: string;
  readonly prefix: string;
  readonly breaker: CircuitBreaker;
  readonly guard: StoreGuard;
  readonly background = new Background();
  readonly revalidation = new Revalidation();
  readonly operationTimeoutMs: number;
  readonly traceCompute: TraceCompute | undefined;
  readonly now: () => number;
  /** For expiry checks of in-process entries: now(), read at most once per millisecond. */
  readonly expiryNow: () => number;
  /** now() is the default clock (a monotonic reading plus the wall time at process start). */
  private readonly nowIsMonotonic: boolean;
  private readonly listener: CacheEventListener | undefined;
  private readonly stats: StatsCollector | undefined;
  private readonly storeCounters: Counters | undefined;
  private readonly hotEvents: () => boolean;
  /** Unique per process and store: with a counter, tokens never repeat across writers (no ABA). */
  private readonly tokenPrefix = randomBytes(6).toString('base64url');
  private tokenCount = 0;
  /** Set once shutdown starts: failures from then on are expected and not reported as outages. */
  closing = false;

  constructor(
    readonly store: CacheStore,
    options: EngineOptions,
  ) {
    this.name = options.name ?? store.kind;
    this.prefix = options.prefix ?? 'cm';
    this.operationTimeoutMs = options.operationTimeoutMs ?? 500;
    this.listener = options.listener;
    this.stats = options.stats;
    this.storeCounters = options.stats?.forStore(this.name);
    this.hotEvents = options.hotEvents ?? (() => true);
    this.traceCompute = options.traceCompute;
    this.now = options.now ?? monotonicWallClock;
    this.expiryNow = options.now ?? coarseWallClock;
    this.nowIsMonotonic = options.now === undefined;
    this.breaker = new CircuitBreaker({
      now: this.now,
      ...options.circuitBreaker,
      onOpen: (error, failures) => this.emit({ type: 'circuit', state: 'open', store: this.name, error, failures }),
      onClose: (skipped, downForMs) =>
        this.emit({ type: 'circuit', state: 'closed', store: this.name, skipped, downForMs }),
    });
    this.guard = new StoreGuard(store, this.name, this.operationTimeoutMs, this.breaker, (event) => this.emit(event));
  }

  /**
   * The performance.now() reading matching `now` (a reading of now()), for the bus lease: free
   * when now() is the default clock, one more clock read when a test injected its own.
   */
  monotonic(now: number): number {
    return this.nowIsMonotonic ? monotonicOf(now) : performance.now();
  }

  /** A fresh version or epoch token: unique across processes, cheap (no crypto per token). */
  token(): string {
    return `${this.tokenPrefix}${(this.tokenCount++).toString(36)}`;
  }

  count(
    policy: { readonly owner?: string; readonly counters?: Counters } | undefined,
    index: 0 | 1 | 2 | 3 | 4 | 5,
  ): void {
    if (this.storeCounters === undefined) return;
    this.storeCounters[index]++;
    (policy?.counters ?? this.stats!.forOwner(policy?.owner))[index]++;
  }

  hit(key: string, policy: CachePolicy, scope: CallScope | undefined): void {
    this.count(policy, HIT);
    scope?.report?.('fresh');
    if (this.listener !== undefined && this.hotEvents())
      this.listener({ type: 'hit', key, store: this.name, owner: policy.owner });
  }

  miss(key: string, policy: CachePolicy, scope: CallScope | undefined): void {
    if (scope?.rejoined === true) return; // told once, when the call first missed
    this.count(policy, MISS);
    scope?.report?.('miss');
    this.emit({ type: 'miss', key, store: this.name, owner: policy.owner });
  }

  stale(key: string, policy: CachePolicy, scope: CallScope | undefined): void {
    this.count(policy, STALE);
    scope?.report?.('stale');
    this.emit({ type: 'stale', key, store: this.name, owner: policy.owner });
  }

  emit(event: CacheEvent): void {
    if (event.type === 'error') this.count({ owner: event.owner }, ERROR);
    else if (event.type === 'uncacheable') this.count({ owner: event.owner }, UNCACHEABLE);
    else if (event.type === 'tampered') this.count({ owner: event.owner }, TAMPERED);
    if (this.listener === undefined) return;
    try {
      this.listener(event);
    } catch {
      // a listener must never break a call
    }
  }
}
