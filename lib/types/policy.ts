import type { Counters } from './stats';

/** Single-flight across processes through the store. */
export interface LockPolicy {
  /** How long callers wait for the holder's value before computing themselves, ms. */
  readonly waitMs: number;
  /** Lock lifetime: if the holder dies, another caller gets the lock after this, ms. */
  readonly ttlMs: number;
}

/** How a method's calls are cached: resolved once per decorated method, frozen. */
export interface CachePolicy<T = unknown> {
  /** 'ClassName.methodName': events, stats, logs and errors name it. */
  readonly owner: string;
  /** Fresh lifetime, ms. */
  readonly ttlMs: number;
  /** After ttl, how long a stale value may be served while one caller refreshes it, ms (0: none). */
  readonly graceMs: number;
  readonly lock?: LockPolicy;
  /** With a stale value at hand, wait at most this long for the refresh before serving stale, ms. */
  readonly softTimeoutMs?: number;
  /** Reject with CacheMemoizeTimeoutError after this long (the computation goes on and is stored), ms. */
  readonly hardTimeoutMs?: number;
  /** Refresh in the background when a hit finds less than this much fresh time left, ms. */
  readonly refreshAheadMs?: number;
  /** false: keep only a marker (the method runs at most once per ttl; hits return undefined). */
  readonly storeResult: boolean;
  /** Store the result only when this returns true. */
  readonly cacheIf?: (value: T) => boolean;
  /**
   * After ttl + grace, how long an entry is kept to be served when the computation fails or times
   * out (stale-if-error), ms.
   */
  readonly staleIfErrorMs?: number;
  /**
   * Checks a value read from a shared store before it is served (validate / migrate): invalid
   * entries are misses (deleted, recomputed); a migrated value is served and written back.
   */
  readonly check?: (value: unknown) => CheckVerdict | Promise<CheckVerdict>;
  /**
   * Shared stores: what a value read from the store is for the caller — a cached error (cacheErrors,
   * perhaps stored by another deploy of the method) is thrown, never returned as a value.
   */
  readonly reveal?: <T>(value: T) => T;
  /** Dependency keys every entry of the method carries: the app-wide clear key and its namespace segments. */
  readonly deps: readonly string[];
  /** This method's counters (see Counters), incremented in place. */
  readonly counters?: Counters;
}

/** What differs per call; undefined when nothing does (the hot path then allocates nothing). */
export interface CallScope<T = unknown> {
  /** Dependency keys beyond the policy's: tags from the arguments or the request. */
  readonly deps?: readonly string[];
  /**
   * `deps` are computed again by every call with this key (a method's argument tags): an
   * in-process entry may then keep a sum of them rather than their names (LocalVersions).
   */
  readonly depsFromKey?: boolean;
  /** Dependency keys known only from the result (resultTags). */
  readonly resultDeps?: (value: T) => readonly string[];
  /** The entry's ttl from its value (a `ttl` option given as a function), ms; 0: not stored. */
  readonly ttlOf?: (value: T) => number;
  /** Validation token: an entry written under another token is stale. */
  readonly etag?: string;
  /** Told how the call was answered (hooks, the interceptor's X-Cache). */
  readonly report?: (state: 'fresh' | 'stale' | 'miss') => void;
  /**
   * A refresh (grace, refresh-ahead) started by this call runs for this caller, who waits for it,
   * instead of in the background (handlers: a request's handler cannot run after its response
   * was sent). Other callers meanwhile still get the stale value at once.
   */
  readonly refreshInline?: boolean;
  /**
   * With `refreshInline`: whether the refresh's error is a failure the stale value stands in for
   * (else an answer that reaches the caller, e.g. an HTTP 4xx). Default: every error.
   */
  readonly staleOnError?: (error: unknown) => boolean;
  /**
   * Told when the call waits for a computation it did not start (a computation under way in this
   * process, or another process's lock): a batch then loads its other items without waiting for it.
   */
  readonly waiting?: () => void;
  /** Whether the call already gave up (past its hard timeout): what it starts now is never joined. */
  readonly abandoned?: () => boolean;
  /** Told when the call's hard timeout passes (flights.ts timedScope). */
  readonly giveUp?: () => void;
  /** Keys whose computation started this call (synchronously): joining one would wait for itself. */
  readonly ancestors?: { includes(key: string): boolean };
  /**
   * The call runs again because the computation it joined was overtaken (flights.ts `joined`): any
   * computation it joins now started after it did, so it takes that one's value — at most one retry.
   */
  readonly rejoined?: boolean;
}

/** What a policy's check says of a cached value. */
export type CheckVerdict = { ok: false } | { ok: true; value: unknown; migrated: boolean };

/** What a call with a key would find, without computing. */
export interface Inspection {
  state: 'fresh' | 'stale' | 'miss';
  value?: unknown;
  expiresAt?: number;
  /** Where it was found: the store, or a tiered store's in-process copy. */
  source?: 'l1' | 'store';
}
