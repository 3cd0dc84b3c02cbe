import type { ByteSize } from '../util/bytes';

/**
 * The store contract (dogpile's api.py, keyv's adapter shape): dumb byte storage. Freshness,
 * versions and locking are decided by the engine from the envelope, not by the store's native TTL,
 * so every store behaves alike. `ttlMs` is the physical lifetime (ttl + grace): the store may
 * drop the entry after it, and may round it up (memcached works in seconds).
 */
export interface CacheStore {
  /** 'memory' | 'redis' | 'memcached' | 'tiered' | a custom name; used in logs and errors. */
  readonly kind: string;
  get(key: string): Promise<Uint8Array | undefined>;
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>>;
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>;
  /**
   * Sets only if absent, atomically across every connection (one command on the server, not a
   * read then a write), kept `ttlMs` only; resolves true when this call stored the value.
   */
  add(key: string, value: Uint8Array, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  deleteMany(keys: readonly string[]): Promise<number>;
  /** Removes every key that starts with `prefix`, taken literally (never a pattern, never a whole-server flush). */
  clear(prefix: string): Promise<void>;
  /**
   * Closes connections the store opened itself; never a client the user passed in. The store may
   * be given to another app afterwards: `ready()`, or the next operation, opens it again.
   */
  disconnect(): Promise<void>;
  /** Optional: deletes `key` only if it holds exactly `value`, atomically (lock release). */
  compareAndDelete?(key: string, value: Uint8Array): Promise<boolean>;
  /**
   * Optional: replaces `key`'s value with `value` (kept `ttlMs`) only if it still holds exactly
   * `expected`, atomically; resolves false when it holds anything else or nothing. `expire` uses
   * it so that a write landing after its read is never overwritten by the older bytes.
   */
  compareAndSet?(key: string, expected: Uint8Array, value: Uint8Array, ttlMs: number): Promise<boolean>;
  /** Optional: extends the lifetime of existing keys (version records that are still in use). */
  touch?(keys: readonly string[], ttlMs: number): Promise<void>;
  /** Optional: resolves true once connected, false after `timeoutMs` (never rejects). */
  ready?(timeoutMs: number): Promise<boolean>;
  /**
   * True when every operation is bounded by the store's own client timeout (so the memoizer
   * needs no timer of its own per operation).
   */
  readonly boundsOwnOperations?: boolean;
  /** Optional: what it is connected to, for the startup log (never credentials). */
  readonly description?: string;
  /** Optional: why it is not connected now, in words ('authentication failed'), for the startup log. */
  readonly connectionProblem?: string;
  /** Optional: signing and compression of this store's entries, over the module's. */
  readonly entryOptions?: SharedEntryOptions;
}

/**
 * Optional capability of in-process stores: synchronous access to stored objects without
 * serialization. The engine uses it for its fast path (and to keep sync methods sync).
 */
export interface LocalCacheStore extends CacheStore, LocalEntryRows {
  readonly local: true;
  /** The stored object, or undefined when absent or expired. Marks the entry recently used. */
  peek(key: string, now?: number): unknown;
  /** `now`: the clock the caller uses for peek(), so both agree on expiry. */
  put(key: string, value: unknown, ttlMs: number, now?: number): void;
  remove(key: string): boolean;
}

/**
 * The engine's entries in an in-process store, kept column-wise rather than as an object each:
 * a value, `meta` (an object the store keeps as it is, typically shared by many entries) and the
 * numbers the engine reads to judge a hit. A row is read right after find(): it stays that
 * entry's only until the store's next call (which may drop, reuse or renumber rows).
 */
export interface LocalEntryRows {
  /**
   * `at`, `freshUntil`, `staleUntil`, `sum`, `sig`: the engine's (of the call's tags, 0 for none);
   * `ttlMs`: how long the store keeps the entry.
   */
  putEntry(
    key: string,
    value: unknown,
    meta: object,
    at: number,
    freshUntil: number,
    staleUntil: number,
    ttlMs: number,
    now?: number,
    sum?: number,
    sig?: number,
  ): void;
  /** The row of the live entry under `key` (marked recently used), or -1. */
  find(key: string, now?: number): number;
  /**
   * find(space + rest), for a key whose shared start (`space`: a method's key base, the same
   * string on every call) the caller knows: only `rest` is hashed.
   */
  findIn(space: string, rest: string, now?: number): number;
  valueAt(row: number): unknown;
  /** undefined: the row holds a value put() without meta. */
  metaAt(row: number): object | undefined;
  atOf(row: number): number;
  freshUntilOf(row: number): number;
  staleUntilOf(row: number): number;
  sumOf(row: number): number;
  sigOf(row: number): number;
  /** Moves the row's `at` forward: its dependencies were found untouched up to logical time `at`. */
  checkedAt(row: number, at: number): void;
}

export type CompressionAlgorithm = 'brotli' | 'gzip' | 'zstd';

export interface CompressOptions {
  /** Values whose encoded form is larger than this are compressed. Default '1kb'. */
  threshold?: ByteSize;
  /** Default 'brotli' (at a fast level). 'zstd' needs a Node whose zlib has it (22.15 and later). */
  algorithm?: CompressionAlgorithm;
}

/**
 * How entries are written to a shared store (module-wide, or per store: the store's own win).
 * Readers understand every form, so turning either on or off is a rolling deploy.
 */
export interface SharedEntryOptions {
  /**
   * HMAC-SHA256 secrets (at least 16 characters). The first signs every entry; every one listed
   * verifies, so a new secret can be rolled in before the old one is dropped. An entry that does
   * not verify (unsigned, another secret, bytes or key changed) is a miss: recomputed, overwritten,
   * reported as a `tampered` event.
   */
  secret?: string | readonly string[];
  /** Compress values larger than `threshold`; false turns a module-wide setting off for one store. */
  compress?: CompressOptions | false;
}
