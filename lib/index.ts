// The public API. Nothing else is supported for import.
export { CacheMemoizeModule } from './cache-memoize.module';
export { CACHE_MEMOIZE_MODULE_OPTIONS } from './cache-memoize.module-definition';
export type { CacheMemoizeModuleOptions, CacheMemoizeOptions } from './cache-memoize.options';
export { CacheMemoizeEngine } from './cache-memoize.engine';
export { CacheMemoize, type CacheMemoizeDecorator } from './decorators/cache-memoize.decorator';
export { InvalidationService, type MethodArgs, type MethodName, type StoreSelector } from './invalidation.service';

export { Memoizer, type MemoizePolicy, type MemoizerOptions } from './core/memoizer';
export type { Envelope } from './core/envelope';
export type { CacheEvent, CacheEventListener } from './core/events';
export { parseDuration, type Duration, type DurationUnit } from './core/duration';
export { encodeArgs } from './core/key-encoder';

export type { CacheStore, LocalCacheStore } from './stores/cache-store.interface';
export { MemoryStore, memoryStore, type MemoryStoreOptions } from './stores/memory.store';

export type { Serializer } from './serialization/serializer.interface';
export { v8Serializer } from './serialization/v8.serializer';

export * from './errors';
