import type { Type } from '@nestjs/common';
import { isObservable } from 'rxjs';
import { ENGINE_REF } from '../constants';
import { inheritIdentity } from '../method/wrapper';
import type { MethodArgs, MethodName } from '../types/method-types';
import { getFallbackEvictor, type Evictor } from './cache-evict.decorator';

type Returned<T, K extends keyof T> = T[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** Which memoized call the decorated method's result becomes the entry of. */
export interface CachePutOptions<T, K extends MethodName<T>, A extends readonly unknown[]> {
  /** `[UsersService, 'getUser']`: a `@CacheMemoize` method (not a batch method). */
  method: readonly [Type<T>, K];
  /** The arguments of that call, from the decorated method's: `(user: User) => [user.id]`. */
  args: (...args: A) => readonly [...MethodArgs<T, K>];
  /**
   * When the cache cannot be updated: 'throw' (default) rejects with an InvalidationFailedError
   * carrying the method's result; 'log' only logs and reports it.
   */
  onFailure?: 'throw' | 'log';
}

/** What the decorator asks of the engine (InvalidationService), resolved through the instance. */
export interface Putter {
  put(
    target: { cls: Function; method: string; args: readonly unknown[]; onFailure?: 'throw' | 'log' },
    result: unknown,
    owner: string,
  ): Promise<void>;
}

type PutTarget = { [ENGINE_REF]?: Evictor & Partial<Putter>; constructor: Function };

/**
 * Write-through: when the decorated method succeeds, its result is stored as the entry of the
 * named memoized call, so the next read is a hit with the new value. The old entry is invalidated
 * first (durably, or the call rejects), then the new value is stored (best effort: if that write
 * fails, the next read is a miss, never the old value). A method that throws changes nothing.
 */
export function CachePut<T, K extends MethodName<T>, A extends readonly unknown[] = never>(
  options: CachePutOptions<T, K, A>,
) {
  return <F extends (...args: [...A, ...never[]]) => Promise<Returned<T, K>>>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): void => {
    const original = descriptor.value as unknown as (this: PutTarget, ...args: unknown[]) => unknown;
    const owner = `${target.constructor.name}.${String(propertyKey)}`;
    const [cls, method] = options.method;
    const argsOf = options.args as unknown as (...args: unknown[]) => readonly unknown[];
    const wrapped = function (this: PutTarget, ...args: unknown[]): unknown {
      const result = original.apply(this, args);
      if (isObservable(result) || result === null || typeof (result as PromiseLike<unknown>)?.then !== 'function')
        return result; // refused by the types: only Promise-returning methods
      const putter = (this[ENGINE_REF] ?? getFallbackEvictor()) as Partial<Putter> | undefined;
      return (result as Promise<unknown>).then(async (value) => {
        await putter?.put?.({ cls, method, args: argsOf(...args), onFailure: options.onFailure }, value, owner);
        return value;
      });
    };
    inheritIdentity(original, wrapped);
    Reflect.defineMetadata(CACHE_PUT_METADATA, true, wrapped);
    descriptor.value = wrapped as unknown as F;
  };
}

/** Marks wrapped methods, so the explorer links their instances to InvalidationService. */
export const CACHE_PUT_METADATA = 'CACHE_MEMOIZE:PUT';
