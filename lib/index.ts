// The public API. Nothing else is supported for import.
export { CacheMemoizeModule } from './cache-memoize.module';
export { CACHE_MEMOIZE_MODULE_OPTIONS } from './cache-memoize.module-definition';
export type { CacheHookInfo, CacheHooks, CacheMemoizeModuleOptions, CacheMemoizeOptions } from './cache-memoize.options';
export { registerPrometheusMetrics, type PrometheusOptions } from './observability/prometheus';
export { CacheMemoizeHealthIndicator, type CacheHealthResult } from './observability/health.indicator';
export type { CacheStats, CacheCounters } from './core/stats';
export type { CacheEventStream } from './core/event-stream';
export type { MethodExplanation } from './core/memoized-method';
export { CacheMemoizeEngine } from './cache-memoize.engine';
export { CacheMemoize, type CacheMemoizeDecorator } from './decorators/cache-memoize.decorator';
export { CacheEvict, InvalidateTags, evictCall, type CacheEvictOptions, type EvictCall } from './decorators/cache-evict.decorator';
export { cacheHandle, type MethodHandle } from './core/method-handle';
export { CacheMemoizeInterceptor } from './interceptors/cache-memoize.interceptor';
export type { CacheRequest } from './interceptors/cache-request';
export { withCacheMode, currentCacheMode, type CacheMode } from './core/cache-context';
export { InvalidationService, type MethodArgs, type MethodName, type StoreSelector } from './invalidation.service';

export { Memoizer, type MemoizePolicy, type MemoizerOptions } from './core/memoizer';
export type { Envelope } from './core/envelope';
export type { CacheEvent, CacheEventListener } from './core/events';
export { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './core/circuit-breaker';
export { parseDuration, type Duration, type DurationUnit } from './core/duration';
export { encodeArgs } from './core/key-encoder';

export type { CacheStore, LocalCacheStore } from './stores/cache-store.interface';
export { MemoryStore, memoryStore, type MemoryStoreOptions } from './stores/memory.store';
export { RedisStore, redisStore, type RedisStoreOptions } from './stores/redis.store';
export type { RedisClientLike, RedisClusterNode, RedisCommandsLike, RedisConnectionOptions } from './stores/redis.types';
export { TieredStore, tieredStore, type TieredStoreOptions } from './stores/tiered.store';
export { MemcachedStore, memcachedStore, type MemcachedClientLike, type MemcachedStoreOptions } from './stores/memcached.store';

export type { Serializer } from './serialization/serializer.interface';
export { taggedJsonSerializer, createTaggedJsonSerializer, type TaggedJsonOptions } from './serialization/tagged-json.serializer';
export type { CacheableClass, ClassRegistryInput } from './serialization/class-registry';

export * from './errors';
