import type { Type } from '@nestjs/common';
import { isObservable } from 'rxjs';
import { CACHE_PUT_METADATA, ENGINE_REF } from '../constants';
import { InvalidOptionError } from '../errors';
import { inheritIdentity } from '../method/wrapper';
import type { MethodArgs, MethodName } from '../types/method-types';
import type { Evictor } from './cache-evict.decorator';
import { unlinkedPutter } from '../method/linked-apps';

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

/** The memoized call a `@CachePut` updates; `args` computes its arguments from the method's. */
export interface PutTarget {
  cls: Function;
  method: string;
  args: () => readonly unknown[];
  onFailure?: 'throw' | 'log';
}

/** What the decorator asks of the engine (InvalidationService), resolved through the instance. */
export interface Putter {
  /** Runs the method (`run`) inside the write-through; resolves its result. */
  put(target: PutTarget, run: () => Promise<unknown>, owner: string): Promise<unknown>;
}

type PutInstance = { [ENGINE_REF]?: Evictor & Putter; constructor: Function };

/**
 * Write-through: when the decorated method succeeds, its result is stored as the entry of the
 * named memoized call, so the next read is a hit with the new value. The entry records the
 * versions read before the method ran; the old entry is invalidated durably (or the call
 * rejects), then the new value is stored (best effort: if that write fails, or another write or
 * invalidation of the entry came meanwhile, the next read is a miss, never the old value). A
 * method that throws changes nothing.
 */
export function CachePut<T, K extends MethodName<T>, A extends readonly unknown[]>(options: CachePutOptions<T, K, A>) {
  return <F extends (...args: [...A, ...never[]]) => Promise<Returned<T, K>>>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): void => {
    const original = descriptor.value as unknown as (this: PutInstance, ...args: unknown[]) => unknown;
    const owner = `${target.constructor.name}.${String(propertyKey)}`;
    const [cls, method] = options.method;
    const argsOf = options.args as unknown as (...args: unknown[]) => readonly unknown[];
    const wrapped = function (this: PutInstance, ...args: unknown[]): unknown {
      // request-scoped, hand-made, or called detached (no this)
      const putter = (this as PutInstance | undefined)?.[ENGINE_REF] ?? unlinkedPutter(cls, method as string);
      if (putter?.put === undefined) return original.apply(this, args);
      const run = async (): Promise<unknown> => {
        const result = original.apply(this, args); // a synchronous throw rejects
        if (isObservable(result))
          return Promise.reject(
            new InvalidOptionError(`${owner}: @CachePut needs a method that returns a Promise, not an Observable.`),
          );
        return Promise.resolve(result);
      };
      const target = { cls, method, args: () => argsOf(...args), onFailure: options.onFailure };
      return putter.put(target, run, owner);
    };
    inheritIdentity(original, wrapped);
    Reflect.defineMetadata(CACHE_PUT_METADATA, { cls, method }, wrapped); // checked at bootstrap
    descriptor.value = wrapped as unknown as F;
  };
}
