// The public API. Nothing else is supported for import; the store conformance suite is the
// subpath 'nestjs-cache-memoize/testing'.

// Module, decorators, interceptor, services
export { CacheMemoizeModule } from './nest/cache-memoize.module';
export { CACHE_MEMOIZE_MODULE_OPTIONS } from './nest/module-definition';
export { CacheMemoizeEngine } from './nest/cache-memoize.engine';
export { InvalidationService } from './nest/invalidation.service';
export { CacheService, InjectCache, getCacheToken } from './nest/cache.service';
export { regionsFromConfig } from './method/regions';
export type { PeekResult } from './method/direct-cache';
export { CacheMemoizeHealthIndicator, type CacheHealthResult } from './nest/health.indicator';
export { registerPrometheusMetrics, type PrometheusOptions } from './nest/prometheus';
export { CacheMemoize, type CacheMemoizeDecorator } from './decorators/cache-memoize.decorator';
export { CacheMemoizeMany, type CacheMemoizeManyDecorator } from './decorators/cache-memoize-many.decorator';
export {
  CacheEvict,
  InvalidateTags,
  evictCall,
  type CacheEvictOptions,
  type EvictCall,
} from './decorators/cache-evict.decorator';
export { CachePut, type CachePutOptions } from './decorators/cache-put.decorator';
export { CacheMemoizeInterceptor } from './interceptor/cache-memoize.interceptor';
export {
  cacheHandle,
  type BatchMethodHandle,
  type HandleOf,
  type ItemOf,
  type MethodHandle,
} from './method/method-handle';
export { withCacheMode, currentCacheMode, type CacheMode } from './method/cache-mode';
export { cacheContext, type CacheContext } from './method/cache-context';
export type { MethodExplanation } from './method/resolved-method';

// Stores
export { memoryStore, MemoryStore, type MemoryStoreOptions } from './stores/memory.store';
export { redisStore, RedisStore, type RedisStoreOptions } from './stores/redis/redis.store';
export {
  memcachedStore,
  MemcachedStore,
  type MemcachedClientLike,
  type MemcachedStoreOptions,
} from './stores/memcached/memcached.store';
export { tieredStore, TieredStore, type TieredStoreOptions } from './stores/tiered.store';
export type {
  RedisClientLike,
  RedisClusterNode,
  RedisCommandsLike,
  RedisConnectionOptions,
} from './stores/redis/redis.types';
export type { NodeRedisClientLike } from './stores/redis/node-redis-client';

// Codec
export { createTaggedJsonSerializer, taggedJsonSerializer, type TaggedJsonOptions } from './codec/tagged-json';

// Types
export type {
  CacheHookInfo,
  CacheHooks,
  CacheMemoizeModuleOptions,
  CacheMemoizeOptionsFactory,
  CacheMemoizeOptions,
  CacheMemoizeManyOptions,
  CacheErrorsOptions,
  StandardSchemaLike,
  StandardSchemaResult,
  ArgsOnly,
  RegionOptions,
} from './types/options';
export type { DirectCacheOptions, DirectExpireOptions, DirectReadOptions } from './types/direct-options';
export type { CacheRequest } from './types/request';
export type { CacheEvent, CacheEventListener } from './types/events';
export type { CacheStats, CacheCounters } from './types/stats';
export type { CacheStore, CompressOptions, CompressionAlgorithm, SharedEntryOptions } from './types/store';
export type { ByteSize } from './util/bytes';
export type { Serializer } from './types/serializer';
export type { CacheableClass, ClassRegistryInput } from './types/classes';
export type { MethodArgs, MethodName, StoreSelector } from './types/method-types';
export type { CacheEventStream } from './engine/event-stream';
export { parseDuration, type Duration, type DurationUnit } from './util/duration';

// Errors (typed, with stable codes)
export * from './errors';
