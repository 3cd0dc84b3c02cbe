import { SetMetadata } from '@nestjs/common';
import { CACHE_MEMOIZE_METADATA } from '../constants';
import type { CacheMemoizeOptions } from '../cache-memoize.options';

/**
 * The decorator's type: on a method, the method's parameters must fit the parameter types the
 * option callbacks were written for; on a class, the options are defaults for its methods.
 */
export interface CacheMemoizeDecorator<A extends readonly unknown[]> {
  (target: Function): void;
  // The callbacks may declare a prefix of the method's parameters (e.g. only the id).
  <F extends (...args: [...A, ...never[]]) => unknown>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): void;
}

/**
 * Memoizes a provider method (wrapped at bootstrap), keyed by its arguments. On a class, sets
 * defaults for the decorated methods of that class. Only records metadata: nothing runs here.
 */
export function CacheMemoize<A extends readonly unknown[] = never, R = unknown>(
  options: CacheMemoizeOptions<A, R> = {},
): CacheMemoizeDecorator<A> {
  const decorator = SetMetadata(CACHE_MEMOIZE_METADATA, Object.freeze({ ...options }));
  return decorator as unknown as CacheMemoizeDecorator<A>;
}
