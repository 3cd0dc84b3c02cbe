import { runDetached } from '../engine/reentry';
import { UnknownMethodError } from '../errors';
import { parseDuration, type Duration } from '../util/duration';
import { entryTtl, expireEntryIn, setEntry } from './entry-ops';
import { MEMOIZED_MANY, type ManyWrapperInfo, type ResolvedMany } from './resolved-many';
import { MEMOIZED_METHOD, type MethodExplanation, type WrapperInfo } from './resolved-method';
import { disabledOriginal, unmanagedInfo } from './unmanaged';
import { disabledHandle } from './disabled-handle';
import { explainCall, peekCall } from './method-lookup';

type Fn = (...args: never[]) => unknown;
type MethodKeys<T> = { [K in keyof T]: T[K] extends Fn ? K : never }[keyof T] & string;
type ArgsOf<F> = F extends (...args: infer A) => unknown ? A : never;
type ResultOf<F> = F extends (...args: never[]) => infer R ? R : never;
/** One item of a batch method's result: an array's element, a Map's or a record's value. */
export type ItemOf<R> =
  Awaited<R> extends ReadonlyArray<infer I>
    ? I
    : Awaited<R> extends ReadonlyMap<unknown, infer V>
      ? V
      : Awaited<R> extends Record<string, infer V>
        ? V
        : unknown;

/**
 * dogpile's `.invalidate() / .refresh() / .original()`, typed, for one memoized method of one
 * instance. Get it with `cacheHandle(this.users, 'getUser')`. On a `@CacheMemoizeMany` method the
 * single forms act on every id of the list (`keyOf` and `explain`: use `keysOf`, `explainMany`).
 */
export interface MethodHandle<A extends readonly unknown[], R> {
  /** The key this argument list reads and writes. */
  keyOf(...args: A): string;
  /** Deletes the entry of this argument list. */
  invalidate(...args: A): Promise<void>;
  /** Recomputes and stores the value of this argument list, whatever is cached. */
  refresh(...args: A): Promise<Awaited<R>>;
  /** The cached value if fresh (`{ value }`), else undefined; never computes. */
  peek(...args: A): Promise<{ value: Awaited<R> } | undefined>;
  /** Calls the method itself, bypassing the cache. */
  original(...args: A): R;
  /** Stores a value you already have as the entry of this argument list (dogpile's `.set`). */
  set(value: Awaited<R>, ...args: A): Promise<void>;
  /** Milliseconds the entry stays fresh, or undefined when a call would not hit (memoize's `ttl`). */
  ttl(...args: A): Promise<number | undefined>;
  /**
   * The entry stays fresh for `duration` from now (shorter or longer), not recomputed; its grace
   * follows. Resolves false when there is no entry, or only an invalidated one (memoize's `expire`);
   * rejects with StoreFailureError when a shared store cannot be reached.
   */
  expireIn(duration: Duration, ...args: A): Promise<boolean>;
  /** The key and store a call would use, and whether it would hit (never computes). */
  explain(...args: A): Promise<MethodExplanation>;
}

/** What a handle of a `@CacheMemoizeMany` method adds: the same per id of the list. */
export interface BatchMethodHandle<A extends readonly unknown[], R> {
  /** The key of each id, in the list's order. */
  keysOf(...args: A): string[];
  /** Each id's cached item if fresh (`{ value }`), else undefined; never computes. */
  peekMany(...args: A): Promise<Array<{ value: ItemOf<R> } | undefined>>;
  /** Deletes the entry of each id (the items every list and the single-item method share). */
  invalidateMany(...args: A): Promise<void>;
  /** Recomputes and stores every id, whatever is cached, in one method call. */
  refreshMany(...args: A): Promise<Awaited<R>>;
  /** What a call would find for each id. */
  explainMany(...args: A): Promise<MethodExplanation[]>;
}

/** A method whose first parameter is an array may be a batch method: its handle has the batch forms too. */
export type HandleOf<A extends readonly unknown[], R> = A extends readonly [readonly unknown[], ...unknown[]]
  ? MethodHandle<A, R> & BatchMethodHandle<A, R>
  : MethodHandle<A, R>;

export function cacheHandle<T extends object, K extends MethodKeys<T>>(
  instance: T,
  method: K,
): HandleOf<ArgsOf<T[K]>, ResultOf<T[K]>> {
  type A = ArgsOf<T[K]>;
  type R = ResultOf<T[K]>;
  const fn = (instance as Record<string, unknown>)[method] as
    { [MEMOIZED_METHOD]?: WrapperInfo; [MEMOIZED_MANY]?: ManyWrapperInfo } | undefined;
  const many = fn?.[MEMOIZED_MANY];
  if (many !== undefined) return batchHandle(instance, many) as unknown as HandleOf<A, R>;
  const info = fn?.[MEMOIZED_METHOD] ?? unmanagedInfo(fn, instance);
  const disabled = info === undefined ? disabledOriginal(fn, instance) : undefined;
  if (disabled !== undefined) return disabledHandle(instance, method, disabled) as unknown as HandleOf<A, R>;
  if (info === undefined) {
    throw new UnknownMethodError(
      `${instance.constructor.name}.${method} is not memoized on this instance: decorate it with @CacheMemoize(), ` +
        `get the instance from Nest (not with new), and make sure the app is initialized and the provider is a singleton.`,
    );
  }
  const { method: m, original } = info;
  const notBatch = (name: string) => (): never => {
    throw new UnknownMethodError(
      `${m.owner} is not a @CacheMemoizeMany method: ${name} applies to batch methods only.`,
    );
  };
  const handle: MethodHandle<A, R> & BatchMethodHandle<A, R> = {
    keyOf: (...args: A) => m.keyFor(args, instance),
    invalidate: (...args: A) => m.invalidate(args, instance),
    refresh: (...args: A) => m.refresh(instance, original, args) as Promise<Awaited<R>>,
    peek: (...args: A) => peekCall(m, args, instance) as Promise<{ value: Awaited<R> } | undefined>,
    original: (...args: A) => runDetached(() => original.apply(instance, args), m.owner) as R,
    explain: (...args: A) => explainCall(m, args, instance),
    set: (value: Awaited<R>, ...args: A) => setEntry(m, args, value, instance),
    ttl: (...args: A) => entryTtl(m, args, instance),
    expireIn: (duration: Duration, ...args: A) =>
      expireEntryIn(
        m,
        args,
        parseDuration(duration, `cacheHandle(${m.owner}).expireIn`, { allowZero: true }),
        instance,
      ),
    keysOf: notBatch('keysOf'),
    peekMany: notBatch('peekMany'),
    invalidateMany: notBatch('invalidateMany'),
    refreshMany: notBatch('refreshMany'),
    explainMany: notBatch('explainMany'),
  };
  return handle as unknown as HandleOf<A, R>;
}

function batchHandle(instance: object, info: ManyWrapperInfo) {
  const { method: m, original } = info;
  const single = (name: string, instead: string) => (): never => {
    throw new UnknownMethodError(`${m.owner} is a @CacheMemoizeMany method with one key per id: use ${instead}.`);
  };
  const refreshMany = (...args: unknown[]) => m.refresh(instance, original, args);
  const peekAll = async (...args: unknown[]) => {
    const ids = Array.isArray(args[0]) ? args[0].slice() : args[0]; // assembled after the await
    return assembled(m, await m.peekMany(args, instance), [ids, ...args.slice(1)]);
  };
  return {
    keyOf: single('keyOf', 'keysOf'),
    explain: single('explain', 'explainMany'),
    set: single('set', 'the single-item method of its namespace'),
    ttl: single('ttl', 'the single-item method of its namespace'),
    expireIn: single('expireIn', 'the single-item method of its namespace'),
    invalidate: (...args: unknown[]) => m.invalidateMany(args, instance),
    refresh: refreshMany,
    peek: peekAll,
    original: (...args: unknown[]) => runDetached(() => original.apply(instance, args), m.owner),
    keysOf: (...args: unknown[]) => m.keysFor(args, instance),
    peekMany: (...args: unknown[]) => m.peekMany(args, instance),
    invalidateMany: (...args: unknown[]) => m.invalidateMany(args, instance),
    refreshMany,
    explainMany: (...args: unknown[]) => m.explainMany(args, instance),
  };
}

/** `peek` on a batch method: the whole result when every id is fresh, else undefined. */
function assembled(
  m: ResolvedMany,
  found: Array<{ value: unknown } | undefined>,
  args: unknown[],
): { value: unknown } | undefined {
  if (found.some((f) => f === undefined)) return undefined;
  return {
    value: m.assemble(
      args[0] as readonly unknown[],
      found.map((f) => f!.value),
    ),
  };
}
