import type { Type } from '@nestjs/common';
import { concatWith, defer, from, ignoreElements, isObservable, type Observable, tap } from 'rxjs';
import { CACHE_EVICT_METADATA, ENGINE_REF } from '../constants';
import type { MethodArgs, MethodName } from '../types/method-types';
import type { ArgsOnly } from '../types/options';
import { inheritIdentity } from '../method/wrapper';

type Source<A extends readonly unknown[]> = readonly string[] | ((...args: A) => readonly string[]);

/** One memoized call to bust: `evictCall(UserService, 'getUser', (id: number) => [id])`. */
export interface EvictCall<A extends readonly unknown[] = never> {
  readonly cls: Function;
  readonly method: string;
  readonly args: (...args: A) => readonly unknown[];
}

export function evictCall<T, K extends MethodName<T>, A extends readonly unknown[]>(
  cls: Type<T>,
  method: K,
  args: (...args: A) => readonly [...MethodArgs<T, K>],
): EvictCall<A> {
  return { cls, method, args };
}

/** What `@CacheEvict` busts; callbacks get the decorated method's arguments. */
export interface CacheEvictOptions<A extends readonly unknown[] = never, R = unknown> {
  tags?: Source<A>;
  /** Tags known from the result of the decorated method (after it succeeded). */
  resultTags?: (result: Awaited<R>, ...args: ArgsOnly<A>) => readonly string[];
  keys?: Source<A>;
  namespaces?: Source<A>;
  methods?: ReadonlyArray<EvictCall<A>>;
  /** Only this store (default: every store). */
  store?: string;
  /** Bust before running the method instead of after it succeeded. Default false. */
  before?: boolean;
  /**
   * When the cache cannot be invalidated: 'throw' (default) rejects the call with an
   * InvalidationFailedError carrying the method's result; 'log' only logs and reports it.
   */
  onFailure?: 'throw' | 'log';
}

/** The part of the engine the decorator needs; resolved through the instance at call time. */
export interface Evictor {
  /** Rejects (InvalidationFailedError) when the cache could not be invalidated and `onFailure` is 'throw'. */
  evict(
    options: CacheEvictOptions<readonly unknown[], unknown>,
    args: readonly unknown[],
    result: unknown,
    owner: string,
    completed: boolean,
  ): Promise<void>;
}

type EvictTarget = { [ENGINE_REF]?: Evictor; constructor: Function };
let fallbackEvictor: Evictor | undefined;

/** Set by the engine at bootstrap: used for instances Nest creates later (request scope). */
export function setFallbackEvictor(evictor: Evictor | undefined): void {
  fallbackEvictor = evictor;
}

export function getFallbackEvictor(): Evictor | undefined {
  return fallbackEvictor;
}

/**
 * Busts cache entries when the decorated method succeeds (or before it runs, with `before`).
 * A method that throws busts nothing. Works on any provider or controller method: the method is
 * wrapped where it is declared, so the callbacks get the method's real arguments.
 */
export function CacheEvict<A extends readonly unknown[] = never, R = unknown>(options: CacheEvictOptions<A, R>) {
  return <F extends (...args: [...A, ...never[]]) => unknown>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): void => {
    const original = descriptor.value as unknown as (this: EvictTarget, ...args: unknown[]) => unknown;
    const owner = `${target.constructor.name}.${String(propertyKey)}`;
    const spec = options as CacheEvictOptions<readonly unknown[], unknown>;
    const evict = (self: EvictTarget, args: unknown[], result: unknown, completed: boolean) => {
      const evictor = self[ENGINE_REF] ?? fallbackEvictor;
      return evictor ? evictor.evict(spec, args, result, owner, completed) : Promise.resolve();
    };
    const wrapped = function (this: EvictTarget, ...args: unknown[]): unknown {
      if (spec.before) {
        const busted = evict(this, args, undefined, false);
        if (!isSync(original)) return busted.then(() => original.apply(this, args));
        busted.catch(() => undefined); // sync: in-process stores apply it at once; others only log
        return original.apply(this, args);
      }
      const result = original.apply(this, args);
      if (isObservable(result)) {
        let last: unknown;
        // The bust runs after the last emission and before completion: its failure reaches the subscriber.
        return (result as Observable<unknown>).pipe(
          tap((v) => (last = v)),
          concatWith(defer(() => from(evict(this, args, last, true))).pipe(ignoreElements())),
        );
      }
      if (result !== null && typeof (result as PromiseLike<unknown>)?.then === 'function') {
        return (result as Promise<unknown>).then(async (value) => {
          await evict(this, args, value, true);
          return value;
        });
      }
      evict(this, args, result, true).catch(() => undefined); // sync: in-process stores apply it at once; others only log
      return result;
    };
    inheritIdentity(original, wrapped);
    Reflect.defineMetadata(CACHE_EVICT_METADATA, spec, wrapped);
    descriptor.value = wrapped as unknown as F;
  };
}

/** `@InvalidateTags((id: number) => [\`user:${id}\`])`: shorthand for `@CacheEvict({ tags })`. */
export function InvalidateTags<A extends readonly unknown[] = never>(
  tags: Source<A>,
  options: Omit<CacheEvictOptions<A>, 'tags'> = {},
) {
  return CacheEvict<A>({ ...options, tags });
}

function isSync(fn: Function): boolean {
  return fn.constructor.name !== 'AsyncFunction';
}
