import { flatString } from '../util/flat-string';

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
 * What an in-process entry depends on, beside its value and deadlines: the states of its method's
 * own dependencies (shared by all its entries), those of its call (tags from the arguments or the
 * result; one state is kept as is, not in an array), and its etag. Entries alike share one: a
 * method's untagged entries all hold the same.
 */
export class LocalMeta {
  constructor(
    readonly deps: readonly TagState[],
    readonly extra: TagState | readonly TagState[] | undefined,
    readonly etag: string | undefined,
  ) {}
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
  private readonly fixed = new WeakMap<readonly string[], LocalMeta>();
  /** The latest meta with per-call parts made over each method's: the next one alike shares it. */
  private readonly latest = new WeakMap<readonly TagState[], LocalMeta>();

  now(): number {
    return this.clock;
  }

  /** States of dependency keys (a new array, exactly as long). */
  resolve(deps: readonly string[]): readonly TagState[] {
    return deps.map((d) => this.state(d));
  }

  /** What a computation's entry depends on: the method's fixed dependencies, its call's, its etag. */
  meta(fixed: readonly string[], extra: readonly string[] | undefined, etag: string | undefined): LocalMeta {
    let base = this.fixed.get(fixed);
    if (base === undefined) this.fixed.set(fixed, (base = new LocalMeta(this.resolve(fixed), undefined, undefined)));
    if ((extra === undefined || extra.length === 0) && etag === undefined) return base;
    return this.extend(base, extra ?? [], etag);
  }

  /** `meta` with more dependencies of its call (result tags, tags added while computing). */
  extend(meta: LocalMeta, more: readonly string[], etag: string | undefined = meta.etag): LocalMeta {
    const states: TagState[] =
      meta.extra === undefined ? [] : meta.extra instanceof TagState ? [meta.extra] : [...meta.extra];
    for (const d of more) {
      const state = this.state(d);
      if (!states.includes(state) && !meta.deps.includes(state)) states.push(state);
    }
    const extra = states.length === 0 ? undefined : states.length === 1 ? states[0] : states;
    const latest = this.latest.get(meta.deps);
    if (latest !== undefined && latest.etag === etag && sameStates(latest.extra, extra)) return latest;
    const made = new LocalMeta(meta.deps, extra, etag);
    this.latest.set(meta.deps, made);
    return made;
  }

  /** Fresh unless one of the dependencies in `meta` was invalidated after `at`. */
  fresh(at: number, meta: LocalMeta): boolean {
    if (at >= this.lastInvalidation) return true;
    const deps = meta.deps;
    for (let i = 0; i < deps.length; i++) if (deps[i].at > at) return false;
    const extra = meta.extra;
    if (extra === undefined) return true;
    if (extra instanceof TagState) return extra.at <= at;
    for (let i = 0; i < extra.length; i++) if (extra[i].at > at) return false;
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
    const known = this.states.get(dep);
    const live = known?.deref();
    if (live !== undefined) return live;
    const state = new TagState();
    // A dead reference's key is kept (the map replaces the value only); a new key is kept flat.
    this.states.set(known === undefined ? flatString(dep) : dep, new WeakRef(state));
    if (this.states.size >= this.sweepAt) this.sweep();
    return state;
  }

  /** Forgets the states nothing holds any more (their references are dead). */
  private sweep(): void {
    for (const [dep, ref] of this.states) if (ref.deref() === undefined) this.states.delete(dep);
    this.sweepAt = Math.max(SWEEP_MIN, this.states.size * 2);
  }
}

function sameStates(a: LocalMeta['extra'], b: LocalMeta['extra']): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a instanceof TagState || b instanceof TagState) return false;
  return a.length === b.length && a.every((state, i) => state === b[i]);
}
