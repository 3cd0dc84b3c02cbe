/** What the memoizer reports. Listeners run synchronously and must be cheap; their errors (thrown, or rejected by an async listener) are swallowed. */
export type CacheEvent =
  | { type: 'hit' | 'miss' | 'set' | 'stale'; key: string; store: string; owner?: string }
  | { type: 'lock'; key: string; store: string; owner?: string; outcome: 'acquired' | 'waited' | 'timeout' }
  | { type: 'computed'; key: string; store: string; owner?: string; durationMs: number; ok: boolean }
  | { type: 'invalidate'; store: string; keys?: readonly string[]; tags?: readonly string[]; prefix?: string }
  | { type: 'error'; store: string; key: string; owner?: string; operation: string; error: unknown }
  /** A result was returned but not stored: it would not come back as it went in (e.g. an unregistered class). */
  | { type: 'uncacheable'; store: string; key: string; owner?: string; error: unknown }
  /** A value read from a shared store failed `validate`: a miss (migrated: upgraded by `migrate` and served). */
  | { type: 'invalid'; store: string; key: string; owner?: string; migrated: boolean }
  /**
   * An entry in a shared store did not verify under the configured `secret`: unsigned, or signed
   * with another secret or over other bytes or another key. Treated as absent and overwritten.
   */
  | { type: 'tampered'; store: string; key: string; owner?: string; reason: 'unsigned' | 'signature' }
  /** The computation failed or timed out; an entry expired less than `staleIfError` ago was served instead. */
  | { type: 'stale-if-error'; store: string; key: string; owner?: string; error: unknown }
  | { type: 'circuit'; state: 'open'; store: string; error: unknown; failures: number }
  | { type: 'circuit'; state: 'closed'; store: string; skipped: number; downForMs: number };

export type CacheEventListener = (event: CacheEvent) => void;
