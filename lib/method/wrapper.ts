import { CACHE_EVICT_METADATA, CACHE_PUT_METADATA } from '../constants';

/**
 * Makes `wrapped` stand in for `original`: same name, and the original's reflect-metadata
 * (route, pattern, resolver... set by other decorators) visible on it.
 */
export function inheritIdentity(original: Function, wrapped: Function): void {
  for (const key of Reflect.getMetadataKeys(original))
    Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapped);
  Object.defineProperty(wrapped, 'name', { value: original.name });
}

/** Whether `fn` invalidates or writes the cache (`@CacheEvict`, `@InvalidateTags`, `@CachePut` wrapped it). */
export function writesCache(fn: Function): boolean {
  return (
    Reflect.getMetadata(CACHE_EVICT_METADATA, fn) !== undefined ||
    Reflect.getMetadata(CACHE_PUT_METADATA, fn) !== undefined
  );
}
