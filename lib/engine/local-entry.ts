import type { CallScope, Inspection } from '../types/policy';
import type { LocalCacheStore, LocalEntryRows } from '../types/store';
import { callMarks } from './deps-sum';
import { Flight } from './flights';
import { LocalMeta, LocalVersions } from './local-versions';

/**
 * An in-process entry, read out of its store's row. The store keeps entries column-wise (no
 * object per entry); a hit reads the row in place, the slower paths (grace, stale-if-error,
 * inspect, expire) read it out once, before anything can write to the store.
 */
export interface LocalEntry<M extends LocalMeta = LocalMeta> {
  readonly value: unknown;
  /** Logical time the computation started, or up to which its dependencies were found untouched (see LocalVersions). */
  readonly at: number;
  readonly freshUntil: number;
  readonly staleUntil: number;
  /** Sum and signature of the call's tags it was computed with (0: none); see LocalVersions. */
  readonly sum: number;
  readonly sig: number;
  readonly meta: M;
}

/** The row of `key` (-1: none), looked up by its parts when the caller has them (see Topology.getOrSet). */
export function findRow(rows: LocalEntryRows, key: string, now: number, space?: string, rest?: string): number {
  return space === undefined || rest === undefined ? rows.find(key, now) : rows.findIn(space, rest, now);
}

/** Whether the row (-1: none) holds a fresh in-process entry (the memory store's, an L1 copy) for this call: a hit, read in place. */
export function freshRow(
  rows: LocalEntryRows,
  versions: LocalVersions,
  row: number,
  now: number,
  scope: CallScope | undefined,
): boolean {
  if (row < 0 || rows.freshUntilOf(row) <= now) return false;
  const meta = rows.metaAt(row);
  if (!(meta instanceof LocalMeta) || meta.etag !== scope?.etag) return false;
  const at = rows.atOf(row);
  if (at >= versions.lastInvalidation) return true;
  if (!versions.fresh(at, meta, rows.sumOf(row), rows.sigOf(row), scope?.deps)) return false;
  // None of its dependencies was invalidated up to now: the next hits need no check until the
  // next invalidation (the row's time is only ever compared with invalidations').
  rows.checkedAt(row, versions.now());
  return true;
}

/** The entry in `row` (-1: none) if the engine wrote it with a meta of class `kind`. */
/** The entry the store holds under the key now, if `current` (staleIfError: read again when used). */
export function servableKept(
  rows: LocalEntryRows,
  key: string,
  now: number,
  current: (entry: LocalEntry) => boolean,
): LocalEntry | undefined {
  const entry = readEntry(rows, rows.find(key, now), LocalMeta);
  return entry !== undefined && current(entry) ? entry : undefined;
}

export function readEntry<M extends LocalMeta>(
  rows: LocalEntryRows,
  row: number,
  kind: abstract new (...args: never[]) => M,
): LocalEntry<M> | undefined {
  if (row < 0) return undefined;
  const meta = rows.metaAt(row);
  if (!(meta instanceof kind)) return undefined;
  return {
    value: rows.valueAt(row),
    at: rows.atOf(row),
    freshUntil: rows.freshUntilOf(row),
    staleUntil: rows.staleUntilOf(row),
    sum: rows.sumOf(row),
    sig: rows.sigOf(row),
    meta,
  };
}

/** What a call would find in a current entry (its versions and etag checked by the caller). */
export function inspectEntry(entry: LocalEntry, now: number): Inspection {
  if (entry.freshUntil > now)
    return { state: 'fresh', value: entry.value, expiresAt: entry.freshUntil, source: 'store' };
  if (entry.staleUntil > now)
    return { state: 'stale', value: entry.value, expiresAt: entry.freshUntil, source: 'store' };
  return { state: 'miss' };
}

/** Makes a live, current entry fresh for `freshForMs` more (0: ends it, but for its grace and stale-if-error). */
export function expireEntry(
  store: LocalCacheStore,
  key: string,
  entry: LocalEntry,
  now: number,
  freshForMs: number,
  staleIfErrorMs: number,
): boolean {
  const grace = entry.staleUntil - entry.freshUntil;
  if (freshForMs <= 0 && grace <= 0 && staleIfErrorMs <= 0) return store.remove(key); // ends it now
  const { value, meta, at, sum, sig } = entry;
  const lifetime = freshForMs + Math.max(grace, staleIfErrorMs);
  store.putEntry(key, value, meta, at, now + freshForMs, now + freshForMs + grace, lifetime, now, sum, sig);
  return true;
}

/** Up to this many argument tags are kept as a sum and signature (see LocalVersions); more, by name. */
const SIGNED_TAGS = 4;

/**
 * The call's tags an entry keeps as a sum and a signature in its row: argument tags (computed
 * again by every call with the key), a few. Others (request tags, tags given with a value, or so
 * many that the signature would rule little out) are kept by name, in the meta.
 */
export function signedTags(scope: CallScope | undefined): readonly string[] | undefined {
  const deps = scope?.deps;
  if (deps === undefined || deps.length === 0 || deps.length > SIGNED_TAGS) return undefined;
  return scope?.depsFromKey === true ? deps : undefined;
}

/** A computation with what its entry will depend on, its call's tags' sum and signature, and the logical time it started. */
export class LocalFlight<T> extends Flight<T> {
  readonly sum: number;
  readonly sig: number;

  constructor(
    key: string,
    deps: readonly string[],
    readonly meta: LocalMeta,
    callDeps: readonly string[] | undefined,
    readonly at: number,
  ) {
    super(key, deps, undefined);
    const marks = callMarks(callDeps);
    this.sum = marks.sum;
    this.sig = marks.sig;
  }
}

/** Versions of each in-process store, shared by every engine using that store object. */
const versionsOf = new WeakMap<LocalCacheStore, LocalVersions>();
export function localVersions(store: LocalCacheStore): LocalVersions {
  let v = versionsOf.get(store);
  if (v === undefined) versionsOf.set(store, (v = new LocalVersions()));
  return v;
}
