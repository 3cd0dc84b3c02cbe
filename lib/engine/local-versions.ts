import { flatString } from '../util/flat-string';
import { callMarks, depHash, sigOf } from './deps-sum';

/** How many invalidated dependencies are remembered by name; older ones raise the floor instead. */
const RECORDS = 1 << 16;
/** Dropped at once when the records are full (the oldest), so the floor moves rarely. */
const DROP = RECORDS >>> 3;
/** Invalidated keys logged with their signature bits, newest last (a ring). */
const LOG = 4_096;
/** The map of states is swept of dead references once it holds this many (then twice the live ones). */
const SWEEP_MIN = 1_024;

/** One dependency (namespace, the app's clear key, an L1 copy's tag) in this process: when it was last invalidated. */
export class TagState {
  /** Logical time of the last invalidation (0: never). */
  at = 0;
}

/**
 * What an in-process entry depends on, beside its value and deadlines: the states of its method's
 * own dependencies (shared by all its entries), the dependency keys known only once it was
 * computed (result tags, tags the computation added; one is kept without an array), and its etag.
 * Entries alike share one: a method's entries without result tags all hold the same, whatever
 * their argument tags (those are not held per entry: see LocalVersions.fresh).
 */
export class LocalMeta {
  constructor(
    readonly deps: readonly TagState[],
    readonly extra: string | readonly string[] | undefined,
    readonly etag: string | undefined,
  ) {}
}

/**
 * Versions for in-process entries (the memory store, a tiered store's L1), on a logical clock.
 * A computation records the clock when it starts; an entry is stale once one of its dependencies
 * was invalidated later. Two kinds of dependency, two ways to know:
 * - a method's own (namespaces, the clear key): a state object each, shared by all its entries;
 * - a call's argument and request tags, which may be one per entry: the entry keeps two numbers
 *   in its row, a 32-bit signature (two bits per tag) and a 52-bit sum of its tags, not the tags.
 *   A check walks back the keys invalidated since the entry's time (a ring of the latest LOG):
 *   one whose bits are not all in the signature is none of its tags, so most checks end there.
 *   Otherwise the call's tags, computed again for this call, must add up to the sum (the same
 *   tags) and are looked up by name among the latest RECORDS invalidated keys. Past those,
 *   `floor` answers: an entry that started before the newest key forgotten is stale ("cannot
 *   tell" is never "fresh");
 * - result tags and tags added while computing: kept in the entry's meta, looked up by name.
 */
export class LocalVersions {
  /** Logical time: advances by one per invalidation. */
  private clock = 1;
  /** Time of the latest invalidation: an entry that started at or after it needs no check. */
  lastInvalidation = 0;
  /** An entry with call tags that started before this cannot be judged by name any more. */
  private floor = 0;
  /** Invalidated dependency key → logical time, oldest invalidation first. */
  private readonly records = new Map<string, number>();
  /** The latest invalidated keys, as (time, signature bits), in a ring; `logged` of them are set. */
  private readonly logAt = new Float64Array(LOG);
  private readonly logSig = new Int32Array(LOG);
  private logNext = 0;
  private logged = 0;
  /** The latest time the ring no longer holds: a walk back to an older entry's time cannot be complete. */
  private logFloor = 0;
  /**
   * Keys invalidated or replaced (a key invalidation, a put, a refresh) by any engine on this
   * store → logical time, oldest first; read when a computation stores or is joined, never on a hit
   * (the row is gone already). Past RECORDS, `keyFloor` answers as `floor` does.
   */
  private readonly keyTimes = new Map<string, number>();
  private keyFloor = 0;
  private readonly states = new Map<string, WeakRef<TagState>>();
  private sweepAt = SWEEP_MIN;
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

  /** What a computation's entry depends on beyond its call's tags: the method's fixed dependencies, its etag. */
  meta(fixed: readonly string[], etag: string | undefined): LocalMeta {
    let base = this.fixed.get(fixed);
    if (base === undefined) this.fixed.set(fixed, (base = new LocalMeta(this.resolve(fixed), undefined, undefined)));
    if (etag === undefined) return base;
    return this.shared(base.deps, undefined, etag);
  }

  /** `meta` with more dependencies known once computed (result tags, tags added while computing). */
  extend(meta: LocalMeta, more: readonly string[]): LocalMeta {
    const had = meta.extra === undefined ? [] : typeof meta.extra === 'string' ? [meta.extra] : meta.extra;
    const keys = [...new Set([...had, ...more])].map(flatString);
    return this.shared(meta.deps, keys.length === 1 ? keys[0] : keys, meta.etag);
  }

  /**
   * Fresh unless a dependency was invalidated after `at`: the method's and those known once
   * computed (in `meta`), or the call's tags the entry was computed with (their `sum` and `sig`;
   * `callDeps`: this call's tags, computed again, used only when the signature cannot rule out
   * every invalidation since `at`).
   */
  fresh(at: number, meta: LocalMeta, sum = 0, sig = 0, callDeps?: readonly string[]): boolean {
    if (at >= this.lastInvalidation) return true;
    const deps = meta.deps;
    for (let i = 0; i < deps.length; i++) if (deps[i].at > at) return false;
    if (sum !== 0 && !this.callTagsUntouched(at, sum, sig, callDeps)) return false;
    const extra = meta.extra;
    if (extra === undefined) return true;
    if (at < this.floor) return false;
    return typeof extra === 'string' ? !((this.records.get(extra) ?? 0) > at) : this.untouched(at, extra);
  }

  private callTagsUntouched(at: number, sum: number, sig: number, callDeps: readonly string[] | undefined): boolean {
    const { logAt, logSig } = this;
    let i = this.logNext;
    let n = this.logged;
    for (; n > 0; n--) {
      i = i === 0 ? LOG - 1 : i - 1;
      if (logAt[i] <= at) return true; // every key invalidated since was ruled out
      if ((logSig[i] & ~sig) === 0) break; // maybe one of its tags
    }
    if (n === 0 && at >= this.logFloor) return true;
    // By name: the call's tags must be the entry's, and none invalidated since.
    if (at < this.floor || callDeps === undefined) return false;
    return callMarks(callDeps).sum === sum && this.untouched(at, callDeps);
  }

  /** Invalidates `deps`: every entry and computation that started earlier and depends on one is stale. */
  invalidate(deps: readonly string[]): void {
    const at = ++this.clock;
    this.lastInvalidation = at;
    const { records } = this;
    for (const d of deps) {
      const state = this.states.get(d)?.deref();
      // No state: no entry or computation here holds it as a method dependency.
      if (state !== undefined) state.at = at;
      // Deleted first, so the map stays ordered by time.
      records.delete(d);
      records.set(flatString(d), at);
      this.log(at, sigOf(depHash(d)));
    }
    if (records.size > RECORDS) this.forgetOldest();
  }

  /**
   * Everything may have changed (a tier's bus lost messages): whatever started before now cannot
   * be judged by name — no computation under way may put its value here (the caller also drops
   * every copy made so far).
   */
  invalidateAll(): void {
    const at = ++this.clock;
    this.lastInvalidation = at;
    this.floor = at;
  }

  /**
   * `keys`' entries are invalidated or replaced: a computation of one that started earlier, in any
   * engine on this store (another app given the same store object), must not store its value or be
   * joined. The time returned is the replacing value's own: it started after it.
   */
  touchKeys(keys: readonly string[]): number {
    const at = ++this.clock;
    const times = this.keyTimes;
    for (const key of keys) {
      times.delete(key); // first: the map stays ordered by time
      times.set(key, at);
    }
    if (times.size > RECORDS)
      for (const [key, when] of times) {
        if (times.size <= RECORDS - DROP) break;
        times.delete(key);
        this.keyFloor = when;
      }
    return at;
  }

  /** Whether `key` was neither invalidated nor replaced after logical time `at`. */
  keyUntouchedSince(key: string, at: number): boolean {
    return at >= this.keyFloor && !((this.keyTimes.get(key) ?? 0) > at);
  }

  /** Whether none of `deps` was invalidated after logical time `at`, whether states were held for them or not. */
  untouchedSince(at: number, deps: readonly string[]): boolean {
    if (at >= this.lastInvalidation) return true;
    return at >= this.floor && this.untouched(at, deps);
  }

  private untouched(at: number, deps: readonly string[]): boolean {
    for (let i = 0; i < deps.length; i++) if ((this.records.get(deps[i]) ?? 0) > at) return false;
    return true;
  }

  private forgetOldest(): void {
    // An eighth at least, and as many more as one invalidation of many keys went past the bound.
    const drop = this.records.size - RECORDS + DROP;
    let dropped = 0;
    for (const [dep, at] of this.records) {
      if (dropped++ === drop) break;
      this.records.delete(dep);
      this.floor = at;
    }
  }

  private log(at: number, sig: number): void {
    const i = this.logNext;
    if (this.logged === LOG) this.logFloor = this.logAt[i];
    else this.logged++;
    this.logAt[i] = at;
    this.logSig[i] = sig;
    this.logNext = i + 1 === LOG ? 0 : i + 1;
  }

  private shared(deps: readonly TagState[], extra: LocalMeta['extra'], etag: string | undefined): LocalMeta {
    const latest = this.latest.get(deps);
    if (latest !== undefined && latest.etag === etag && sameKeys(latest.extra, extra)) return latest;
    const made = new LocalMeta(deps, extra, etag);
    this.latest.set(deps, made);
    return made;
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

function sameKeys(a: LocalMeta['extra'], b: LocalMeta['extra']): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || typeof a === 'string' || typeof b === 'string') return false;
  return a.length === b.length && a.every((key, i) => key === b[i]);
}
