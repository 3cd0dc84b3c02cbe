/**
 * What a computation says about its own entry while it runs (`cacheContext()`): a ttl or grace of
 * its own, more tags (dependency keys), or not to store it at all. One per computation; the
 * writers read it when the value is stored.
 */
export class FactoryControl {
  ttlMs: number | undefined;
  graceMs: number | undefined;
  /** How long past its ttl the store keeps it for stale-if-error, instead of the method's (a cached error: 0). */
  staleIfErrorMs: number | undefined;
  /** Dependency keys added while it ran. */
  deps: string[] | undefined;
  skipped = false;
  /**
   * It ran on other arguments than its key says (keyed-invoke.ts): not stored, and its value is
   * for its own caller only — a caller that joined it recomputes on its own arguments.
   */
  argsChanged = false;
  /**
   * A refresh its caller does not wait for (grace, refreshAhead): the caller may reuse its argument
   * objects while it runs, so it runs on a copy of them (keyed-invoke.ts).
   */
  background = false;
  /** The computation returned or threw: its cacheContext() handle speaks for nothing any more. */
  closed = false;

  constructor(
    /** The app's key prefix (tags become dependency keys under it). */
    readonly prefix: string,
    /** 'ClassName.methodName', for messages. */
    readonly owner: string,
    /** The computation it speaks for: once detached, its values stand for no call that came later. */
    private readonly flight?: { readonly cancelledAt: number | undefined },
  ) {}

  /**
   * Whether its computation was detached (an invalidation, a refresh replacing it) by `since` (a
   * performance.now() reading): a GraphQL field waiting since then must not take its values; one
   * that joined before may (graphql-joins.ts).
   */
  detachedBy(since: number): boolean {
    const at = this.flight?.cancelledAt;
    return at !== undefined && at <= since;
  }

  /** Takes what a batch's method call said, for one of its items. */
  absorb(other: FactoryControl): void {
    this.ttlMs = other.ttlMs ?? this.ttlMs;
    this.graceMs = other.graceMs ?? this.graceMs;
    this.staleIfErrorMs = other.staleIfErrorMs ?? this.staleIfErrorMs;
    if (other.deps !== undefined) this.deps = [...(this.deps ?? []), ...other.deps];
    this.skipped ||= other.skipped;
    this.argsChanged ||= other.argsChanged;
  }
}
