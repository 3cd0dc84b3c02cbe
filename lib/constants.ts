/** Reflect metadata key holding `@CacheMemoize` options on a method or class. */
export const CACHE_MEMOIZE_METADATA = 'CACHE_MEMOIZE:OPTIONS';
/** Marks a function that is already a memoizing wrapper, so it is never wrapped twice. */
export const MEMOIZED_WRAPPER = Symbol('CACHE_MEMOIZE:WRAPPER');
/** Injection token of the HTTP adapter as the interceptor sees it (provided by the module). */
export const CACHE_HTTP_ADAPTER = Symbol('CACHE_MEMOIZE:HTTP_ADAPTER');
/** Marks methods `@CachePut` wrapped, so the explorer links their instances to InvalidationService. */
export const CACHE_PUT_METADATA = 'CACHE_MEMOIZE:PUT';
/** Reflect metadata key holding `@CacheEvict` options on a (wrapped) method. */
export const CACHE_EVICT_METADATA = 'CACHE_MEMOIZE:EVICT';
/** Where the explorer leaves the evictor (InvalidationService) on instances whose methods evict. */
export const ENGINE_REF = Symbol('CACHE_MEMOIZE:ENGINE');
/** Reflect metadata key holding `@CacheMemoizeMany` options on a method. */
export const CACHE_MEMOIZE_MANY_METADATA = 'CACHE_MEMOIZE:MANY';
