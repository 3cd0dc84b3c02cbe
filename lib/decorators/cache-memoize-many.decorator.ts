import { SetMetadata } from '@nestjs/common';
import { CACHE_MEMOIZE_MANY_METADATA } from '../constants';
import type { CacheMemoizeManyOptions } from '../types/options';
import type { MethodImpl } from '../method/resolved-method';
import { detachedRunner } from '../method/unmanaged';
import { inheritIdentity } from '../method/wrapper';
import { decoratedClasses, refuseUnmemoizable } from './cache-memoize.decorator';

/** What a batch method may return: items aligned with its ids, a Map by id, or a record by id. */
export type BatchResultOf<Item> = readonly Item[] | ReadonlyMap<unknown, Item> | Readonly<Record<string, Item>>;

/**
 * The decorator's type: the method takes the list of ids first (then any shared parameters) and
 * returns a Promise; the callbacks' parameter types must fit the method's.
 */
export type CacheMemoizeManyDecorator<Id, Rest extends readonly unknown[], Item = unknown> = <
  F extends (ids: Id[], ...rest: [...Rest, ...never[]]) => Promise<BatchResultOf<Item>>,
>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<F>,
) => void;

/**
 * On a provider method whose first parameter is a list of ids: caches each item as its own entry
 * (keyed like a single call `namespace(id, ...rest)`), and calls the method once per call with
 * only the ids not in the cache. Provider instances are wrapped at bootstrap.
 */
export function CacheMemoizeMany<Id = never, Rest extends readonly unknown[] = never[], Item = unknown>(
  options: CacheMemoizeManyOptions<Id, Rest, Item> = {},
): CacheMemoizeManyDecorator<Id, Rest, Item> {
  const metadata = SetMetadata(CACHE_MEMOIZE_MANY_METADATA, Object.freeze({ ...options }));
  return ((target: object, key: string | symbol, descriptor: PropertyDescriptor) => {
    refuseUnmemoizable('@CacheMemoizeMany', target, key);
    decoratedClasses.add(target.constructor);
    metadata(target, key, descriptor);
    if (typeof descriptor?.value !== 'function') return;
    // Runs as written where no app wraps it (disabled, request-scoped), its cacheContext() a no-op.
    const original = descriptor.value as MethodImpl;
    const run = detachedRunner(target.constructor, String(key), original);
    inheritIdentity(original, run);
    descriptor.value = run;
    return descriptor;
  }) as CacheMemoizeManyDecorator<Id, Rest, Item>;
}
