/** How many invalidations `untouchedSince` can look back over. */
const RECENT = 1_024;
/** The map of states is swept of dead references once it holds this many (then twice the live ones). */
const SWEEP_MIN = 1_024;

/** One dependency (tag, namespace, the app's clear key) in this process: when it was last invalidated. */
export class TagState {
  /** Logical time of the last invalidation (0: never). */
  at = 0;
}

/**
 * Versions for in-process entries (the memory store, a tiered store's L1), on a logical clock.
 * A computation records the clock when it starts and holds its dependencies' states; an entry is
 * stale once any of them was invalidated later. States are held by the entries and computations
 * that depend on them and kept in a map of weak references, so the map holds no state nothing
 * needs: any number of distinct tags can be invalidated without bounds to enforce or entries to
 * drop, and entries whose tags were never invalidated keep hitting. References whose state is gone
 * are swept from the map as it grows (each costs a few dozen bytes until then, where a
 * finalization callback per state would cost more, all the time).
 */
export class LocalVersions {
  /** Logical time: advances by one per invalidation. */
  private clock = 1;
  /** Time of the latest invalidation: an entry that started at or after it needs no check. */
  lastInvalidation = 0;
  private readonly states = new Map<string, WeakRef<TagState>>();
  private sweepAt = SWEEP_MIN;
  /**
   * The latest invalidations (logical time, dependencies), so a value read or computed from time t
   * can be judged against every invalidation since t even for dependencies no state was held for
   * (a tiered store's L1 copy of an L2 read, a result tag). Bounded: past it, "cannot tell" = stale.
   */
  private readonly recent: Array<{ at: number; deps: readonly string[] }> = [];
  /** Each method's fixed dependencies, resolved once (held by the method's policy, not per entry). */
  private readonly fixed = new WeakMap<readonly string[], readonly TagState[]>();

  now(): number {
    return this.clock;
  }

  /** States of a computation's dependencies: the method's fixed ones, plus per-call ones if any. */
  resolve(fixed: readonly string[], extra: readonly string[] | undefined): readonly TagState[] {
    let base = this.fixed.get(fixed);
    if (base === undefined) this.fixed.set(fixed, (base = fixed.map((d) => this.state(d))));
    if (extra === undefined || extra.length === 0) return base;
    const all = base.slice();
    for (const d of extra) all.push(this.state(d));
    return all;
  }

  /** Fresh unless one of `deps` was invalidated after `at`. */
  fresh(at: number, deps: readonly TagState[]): boolean {
    if (at >= this.lastInvalidation) return true;
    for (let i = 0; i < deps.length; i++) if (deps[i].at > at) return false;
    return true;
  }

  /** Invalidates `deps`: every entry and computation that started earlier and depends on one is stale. */
  invalidate(deps: readonly string[]): void {
    const at = ++this.clock;
    this.lastInvalidation = at;
    for (const d of deps) {
      const state = this.states.get(d)?.deref();
      // No state: no entry or computation here holds it; the log below still answers for it.
      if (state !== undefined) state.at = at;
    }
    this.recent.push({ at, deps });
    if (this.recent.length > RECENT) this.recent.shift();
  }

  /** Whether none of `deps` was invalidated after logical time `at`, whether states were held for them or not. */
  untouchedSince(at: number, deps: readonly string[]): boolean {
    if (at >= this.lastInvalidation) return true;
    // Invalidations are numbered consecutively: if the oldest one kept is later than at + 1, some are gone.
    if (this.recent.length === 0 || this.recent[0].at > at + 1) return false;
    for (let i = this.recent.length - 1; i >= 0 && this.recent[i].at > at; i--) {
      const changed = this.recent[i].deps;
      for (const d of deps) if (changed.includes(d)) return false;
    }
    return true;
  }

  private state(dep: string): TagState {
    const known = this.states.get(dep)?.deref();
    if (known !== undefined) return known;
    const state = new TagState();
    this.states.set(dep, new WeakRef(state));
    if (this.states.size >= this.sweepAt) this.sweep();
    return state;
  }

  /** Forgets the states nothing holds any more (their references are dead). */
  private sweep(): void {
    for (const [dep, ref] of this.states) if (ref.deref() === undefined) this.states.delete(dep);
    this.sweepAt = Math.max(SWEEP_MIN, this.states.size * 2);
  }
}
