import { isObservable } from 'rxjs';
import { BatchResultError, InvalidArgumentError, InvalidOptionError } from '../errors';
import type { CacheMemoizeManyOptions } from '../types/options';
import type { CallScope } from '../types/policy';
import { cacheStateOf, isPutKey, modeOf } from './cache-mode';
import { ErrorCache } from './error-cache';
import type { MethodExplanation, MethodImpl, ResolvedMethod } from './resolved-method';
import { itemsOf, recordClash, shapeResult, type BatchShape } from './batch-result';
import { explainCall, peekCall } from './method-lookup';
import { applyKeyed, checkKeyed } from './keyed-invoke';

type Args = readonly unknown[];

/** The options only a batch method has, checked. */
export interface BatchSettings {
  shape: BatchShape;
  cacheMissing: boolean;
  maxBatch: number;
  skip?: (ids: unknown[], ...rest: Args) => boolean;
}

/** Symbol under which a batch wrapper keeps its ResolvedMany and the original function. */
export const MEMOIZED_MANY = Symbol('CACHE_MEMOIZE:MANY');
export interface ManyWrapperInfo {
  method: ResolvedMany;
  original: MethodImpl;
}

/** Checks the batch-only options of `@CacheMemoizeMany` (the per-item ones are a single method's). */
export function parseBatchSettings(
  opts: CacheMemoizeManyOptions<unknown, Args, unknown>,
  owner: string,
): BatchSettings {
  const where = `@CacheMemoizeMany on ${owner}`;
  const shape = opts.result ?? 'array';
  if (shape !== 'array' && shape !== 'map' && shape !== 'record')
    throw new InvalidOptionError(`${where}: option result must be 'array', 'map' or 'record', got ${String(shape)}.`);
  const maxBatch = opts.maxBatch ?? Infinity;
  if (maxBatch !== Infinity && (!Number.isInteger(maxBatch) || maxBatch < 1))
    throw new InvalidOptionError(`${where}: option maxBatch must be a positive integer, got ${String(maxBatch)}.`);
  if (opts.cacheMissing !== undefined && typeof opts.cacheMissing !== 'boolean')
    throw new InvalidOptionError(`${where}: option cacheMissing must be a boolean.`);
  if (opts.skip !== undefined && typeof opts.skip !== 'function')
    throw new InvalidOptionError(`${where}: option skip must be a function, got ${typeof opts.skip}.`);
  for (const name of [
    'storeResult',
    'cacheErrors',
    'etag',
    'vary',
    'public',
    'requestTags',
    'parentKey',
    'httpMethods',
  ]) {
    if ((opts as Record<string, unknown>)[name] !== undefined)
      throw new InvalidOptionError(`${where}: option ${name} does not apply to a batch method; remove it.`);
  }
  return { shape, cacheMissing: opts.cacheMissing !== false, maxBatch, skip: opts.skip };
}

/**
 * A `@CacheMemoizeMany` method: its first argument is a list of ids, each cached as the entry a
 * single call `(id, ...rest)` of its namespace would use (`item` builds keys, tags and policy).
 * A call reads every item in one batch and calls the method once with only the missing ids.
 */
export class ResolvedMany {
  readonly owner: string;

  constructor(
    readonly item: ResolvedMethod,
    private readonly settings: BatchSettings,
  ) {
    this.owner = item.owner;
  }

  /** The wrapper installed in place of the original method; it carries its handle. */
  wrap(original: MethodImpl): MethodImpl {
    // The wrapper needs its own `this` (the instance) besides this method's.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const wrapped = function memoizedMany(this: unknown, ...args: unknown[]): unknown {
      return self.call(this, original, args);
    };
    Object.defineProperty(wrapped, MEMOIZED_MANY, { value: { method: this, original } satisfies ManyWrapperInfo });
    return wrapped;
  }

  call(thisArg: unknown, original: MethodImpl, args: unknown[]): unknown {
    // A copy: the result is shaped after the await, and a caller may refill its array meanwhile.
    const ids = Array.isArray(args[0]) ? (args[0] as unknown[]).slice() : args[0];
    const rest = args.slice(1);
    let unique: Unique;
    try {
      if (!Array.isArray(ids)) {
        this.item.runsUncached(
          new InvalidArgumentError(
            `the first argument must be an array of ids, got ${ids instanceof Set ? 'a Set' : typeof ids}`,
          ),
        );
        return this.item.uncachedCall(thisArg, original, args);
      }
      const refused = this.refusedIds(ids);
      if (refused !== undefined) return refused;
      const { skip } = this.settings;
      const state = cacheStateOf();
      const mode = modeOf(state);
      if (mode === 'bypass' || (skip !== undefined && skip(ids, ...rest)))
        return this.item.uncachedCall(thisArg, original, args);
      unique = this.unique(ids, rest, thisArg);
      // A @CachePut of one of these ids runs this call (a re-read): the source's values, uncached.
      if (typeof state === 'object' && unique.keys.some((k) => isPutKey(state, k)))
        return this.item.uncachedCall(thisArg, original, args);
      if (mode === 'refresh') return this.refresh(thisArg, original, args);
    } catch (error) {
      this.item.runsUncached(error);
      return this.item.uncachedCall(thisArg, original, args);
    }
    const load = this.loader(thisArg, original, unique, rest);
    const { memoizer, policy } = this.item;
    return memoizer.getOrSetMany(unique.keys, load, policy, unique.scopes, this.settings.maxBatch).then((values) => {
      // An id whose entry is an error a single method of the namespace cached (cacheErrors).
      for (const value of values) ErrorCache.throwIfError(value);
      return shapeResult(this.settings.shape, ids, unique.positions, values);
    });
  }

  /** Record ids of one String(), refused on every call whatever is cached: a hit would drop one silently. */
  private refusedIds(ids: readonly unknown[]): Promise<never> | undefined {
    const clash = this.settings.shape === 'record' ? recordClash(ids, this.owner) : undefined;
    return clash === undefined ? undefined : Promise.reject(clash);
  }

  /** Recomputes and stores every item of the list, whatever is cached, in one method call. */
  refresh(thisArg: unknown, original: MethodImpl, args: unknown[]): Promise<unknown> {
    const ids = this.idsOf(args).slice(); // shaped after the await: see call()
    const refused = this.refusedIds(ids);
    if (refused !== undefined) return refused;
    const rest = args.slice(1);
    const unique = this.unique(ids, rest, thisArg);
    const load = this.loader(thisArg, original, unique, rest);
    const { memoizer, policy } = this.item;
    return memoizer
      .refreshMany(unique.keys, load, policy, unique.scopes, this.settings.maxBatch)
      .then((values) => shapeResult(this.settings.shape, ids, unique.positions, values));
  }

  /** The caller-facing result for a list from the items of each id, in the list's order. */
  assemble(ids: readonly unknown[], items: readonly unknown[]): unknown {
    return shapeResult(
      this.settings.shape,
      ids,
      Array.from(ids, (_, i) => i),
      items,
    );
  }

  get memoizer(): ResolvedMethod['memoizer'] {
    return this.item.memoizer;
  }

  /** The key of each id, in the list's order. */
  keysFor(args: Args, instance?: unknown): string[] {
    const rest = args.slice(1);
    return Array.from(this.idsOf(args), (id) => this.item.keyFor([id, ...rest], instance)); // holes too, as calls key them
  }

  /** Each id's cached item if fresh (`{ value }`), else undefined; never computes. */
  peekMany(args: Args, instance?: unknown): Promise<Array<{ value: unknown } | undefined>> {
    const rest = args.slice(1);
    return Promise.all(Array.from(this.idsOf(args), (id) => peekCall(this.item, [id, ...rest], instance)));
  }

  explainMany(args: Args, instance?: unknown): Promise<MethodExplanation[]> {
    const rest = args.slice(1);
    return Promise.all(Array.from(this.idsOf(args), (id) => explainCall(this.item, [id, ...rest], instance)));
  }

  async invalidateMany(args: Args, instance?: unknown): Promise<void> {
    await this.item.memoizer.invalidateKeys(this.keysFor(args, instance));
  }

  private idsOf(args: Args): readonly unknown[] {
    const ids = args[0];
    if (!Array.isArray(ids))
      throw new InvalidArgumentError(`${this.owner}: the first argument must be the array of ids, got ${typeof ids}.`);
    return ids;
  }

  /** Distinct items by key (two ids with one key are one item), in first-seen order. */
  private unique(ids: readonly unknown[], rest: Args, instance: unknown): Unique {
    const byKey = new Map<string, number>();
    const out: Unique = { ids: [], keys: [], scopes: undefined, positions: new Array<number>(ids.length) };
    let scopes: Array<CallScope | undefined> | undefined;
    for (let i = 0; i < ids.length; i++) {
      const itemArgs = [ids[i], ...rest];
      const key = this.item.keyFor(itemArgs, instance);
      let position = byKey.get(key);
      if (position === undefined) {
        position = out.keys.length;
        byKey.set(key, position);
        out.keys.push(key);
        out.ids.push(ids[i]);
        const scope = this.item.scopeFor(itemArgs, key);
        if (scope !== undefined) (scopes ??= new Array<CallScope | undefined>(position)).push(scope);
        else scopes?.push(undefined);
      }
      out.positions[i] = position;
    }
    out.scopes = scopes;
    return out;
  }

  /** Calls the method with the ids at `positions` and returns their items in that order. */
  private loader(
    thisArg: unknown,
    original: MethodImpl,
    { ids, keys }: Unique,
    rest: Args,
  ): (positions: readonly number[]) => Promise<unknown[]> {
    const { shape } = this.settings;
    return async (positions) => {
      // As a single call's (keyed-invoke.ts): an id or another argument changed since the keys were
      // built is not stored under them (the ids array itself is a copy).
      const keyed = (a: readonly unknown[]) =>
        positions.every((p, i) => this.item.keyFor([(a[0] as unknown[])[i], ...a.slice(1)], thisArg) === keys[p]);
      const wanted = positions.map((p) => ids[p]);
      checkKeyed(this.item, () => keyed([wanted, ...rest]));
      // A copy of the ids: a method that sorts or filters its argument in place must not move ids under their items.
      const encode = (a: readonly unknown[]) =>
        JSON.stringify((a[0] as unknown[]).map((id) => this.item.keyFor([id, ...a.slice(1)], thisArg)));
      const result = applyKeyed(
        this.item,
        [wanted, ...rest],
        encode,
        () => JSON.stringify(positions.map((p) => keys[p])),
        (a) => original.apply(thisArg, [[...(a[0] as unknown[])], ...a.slice(1)]),
      );
      if (isObservable(result))
        throw new BatchResultError(
          `${this.owner} returned an Observable: a batch method must return a Promise.`,
          wanted,
        );
      return itemsOf(await result, wanted, shape, this.owner, (id) => this.item.keyFor([id, ...rest], thisArg));
    };
  }
}

interface Unique {
  /** The distinct ids and their keys. */
  ids: unknown[];
  keys: string[];
  scopes: Array<CallScope | undefined> | undefined;
  /** For each id of the caller's list, its distinct item. */
  positions: number[];
}
