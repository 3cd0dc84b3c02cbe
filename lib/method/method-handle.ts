import { UnknownMethodError } from '../errors';
import { MEMOIZED_METHOD, type MethodExplanation, type WrapperInfo } from './resolved-method';

type Fn = (...args: never[]) => unknown;
type MethodKeys<T> = { [K in keyof T]: T[K] extends Fn ? K : never }[keyof T] & string;
type ArgsOf<F> = F extends (...args: infer A) => unknown ? A : never;
type ResultOf<F> = F extends (...args: never[]) => infer R ? R : never;

/**
 * dogpile's `.invalidate() / .refresh() / .original()`, typed, for one memoized method of one
 * instance. Get it with `cacheHandle(this.users, 'getUser')`.
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
  /** The key and store a call would use, and whether it would hit (never computes). */
  explain(...args: A): Promise<MethodExplanation>;
}

export function cacheHandle<T extends object, K extends MethodKeys<T>>(
  instance: T,
  method: K,
): MethodHandle<ArgsOf<T[K]>, ResultOf<T[K]>> {
  const fn = (instance as Record<string, unknown>)[method] as { [MEMOIZED_METHOD]?: WrapperInfo } | undefined;
  const info = fn?.[MEMOIZED_METHOD];
  if (info === undefined) {
    throw new UnknownMethodError(
      `${instance.constructor.name}.${method} is not memoized on this instance: decorate it with @CacheMemoize(), ` +
        `get the instance from Nest (not with new), and make sure the app is initialized and the provider is a singleton.`,
    );
  }
  const { method: m, original } = info;
  type A = ArgsOf<T[K]>;
  type R = ResultOf<T[K]>;
  return {
    keyOf: (...args: A) => m.keyFor(args, instance),
    invalidate: (...args: A) => m.invalidate(args, instance),
    refresh: (...args: A) => m.refresh(instance, original, args) as Promise<Awaited<R>>,
    peek: (...args: A) => m.peek(args, instance) as Promise<{ value: Awaited<R> } | undefined>,
    original: (...args: A) => original.apply(instance, args) as R,
    explain: (...args: A) => m.explain(args, instance),
  };
}
