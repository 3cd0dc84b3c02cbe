import { InvalidOptionError } from '../errors';
import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { CacheMemoizeInterceptor } from '../interceptor/cache-memoize.interceptor';
import { CACHE_MEMOIZE_METADATA } from '../constants';
import type { CacheMemoizeOptions } from '../types/options';
import type { MethodImpl } from '../method/resolved-method';
import { unmanagedDispatcher } from '../method/unmanaged';
import { inheritIdentity } from '../method/wrapper';

/**
 * The decorator's type: on a method, the method's parameters must fit the parameter types the
 * option callbacks were written for; on a class, the options are defaults for its methods.
 */
export interface CacheMemoizeDecorator<A extends readonly unknown[], R = unknown> {
  (target: Function): void;
  // The callbacks may declare a prefix of the method's parameters (e.g. only the id), and the
  // result callbacks (cacheIf, resultTags, ttl, validate, migrate) the method's result type.
  <F extends (...args: [...A, ...never[]]) => R | PromiseLike<R> | Observable<unknown>>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): void;
}

/**
 * On a provider method: memoizes it (wrapped at bootstrap), keyed by its arguments.
 * On a controller/resolver handler or class: applies CacheMemoizeInterceptor, which caches the
 * response keyed by the request. On a provider class: defaults for its decorated methods.
 * Only records metadata: nothing runs here.
 */
export function CacheMemoize<A extends readonly unknown[] = never, R = unknown>(
  options: CacheMemoizeOptions<A, R> = {},
): CacheMemoizeDecorator<A, R> {
  const decorator = applyDecorators(
    SetMetadata(CACHE_MEMOIZE_METADATA, Object.freeze({ ...options })),
    // Interceptor metadata is ignored on providers; on controllers and resolvers it caches responses.
    UseInterceptors(CacheMemoizeInterceptor),
  );
  return ((target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
    (decorator as (t: object, k?: string | symbol, d?: PropertyDescriptor) => unknown)(target, key, descriptor);
    if (key === undefined || descriptor === undefined || typeof descriptor.value !== 'function') return;
    refuseUnmemoizable('@CacheMemoize', target, key);
    decoratedClasses.add(target.constructor);
    // On the prototype: a class Nest never creates is memoized through it once an app binds it.
    // Provider instances get their own wrapper at bootstrap (which calls this on a miss).
    const original = descriptor.value as MethodImpl;
    const dispatch = unmanagedDispatcher(target.constructor, String(key), original);
    inheritIdentity(original, dispatch);
    descriptor.value = dispatch;
    return descriptor;
  }) as unknown as CacheMemoizeDecorator<A, R>;
}

/** A static or symbol-named method would never be memoized (no instance; methods are found by name): said, not skipped. */
export function refuseUnmemoizable(decorator: string, target: object, key: string | symbol): void {
  const where = `${decorator} on ${typeof target === 'function' ? target.name : target.constructor.name}.${String(key)}`;
  if (typeof target === 'function')
    throw new InvalidOptionError(
      `${where}: a static method is not memoized. Make it an instance method of a provider.`,
    );
  if (typeof key === 'symbol')
    throw new InvalidOptionError(`${where}: a method named by a symbol is not memoized. Give it a string name.`);
}

/**
 * Classes with a `@CacheMemoize` method, as they are declared: after bootstrap the explorer warns
 * about those no app ever instantiated (a class `new`-ed by hand, or missing from `providers`).
 */
export const decoratedClasses = new Set<Function>();
