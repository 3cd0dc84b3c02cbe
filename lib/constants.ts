/** Reflect metadata key holding `@CacheMemoize` options on a method or class. */
export const CACHE_MEMOIZE_METADATA = 'CACHE_MEMOIZE:OPTIONS';
/** Marks a function that is already a memoizing wrapper, so it is never wrapped twice. */
export const MEMOIZED_WRAPPER = Symbol('CACHE_MEMOIZE:WRAPPER');
/** Injection token of the engine that owns the stores. */
export const CACHE_MEMOIZE_ENGINE = Symbol('CACHE_MEMOIZE_ENGINE');
/** Reflect metadata key holding `@CacheEvict` options on a (wrapped) method. */
export const CACHE_EVICT_METADATA = 'CACHE_MEMOIZE:EVICT';
/** Where the explorer leaves the engine on instances whose methods evict. */
export const ENGINE_REF = Symbol('CACHE_MEMOIZE:ENGINE');
