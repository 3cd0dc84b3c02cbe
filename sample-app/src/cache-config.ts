import {
  memcachedStore,
  memoryStore,
  redisStore,
  type CacheMemoizeModuleOptions,
  type CacheStore,
} from 'nestjs-cache-memoize';
import { CacheStats } from './cache-stats';

/**
 * CACHE_STORE=memory (default) | redis | memcached, with REDIS_URL and MEMCACHED_SERVERS.
 * The 'local' store is always in-process: synchronous methods stay synchronous there.
 */
export function cacheOptions(env: NodeJS.ProcessEnv = process.env): CacheMemoizeModuleOptions {
  return {
    stores: { default: sharedStore(env), local: memoryStore({ maxEntries: 1_000 }) },
    ttl: '5m',
    prefix: env.CACHE_PREFIX ?? 'catalog',
    onEvent: (event) => CacheStats.record(event),
  };
}

function sharedStore(env: NodeJS.ProcessEnv): CacheStore {
  const kind = env.CACHE_STORE ?? 'memory';
  switch (kind) {
    case 'memory':
      return memoryStore({ maxEntries: 1_000 });
    case 'redis':
      return redisStore({ url: env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
    case 'memcached':
      return memcachedStore({ servers: env.MEMCACHED_SERVERS ?? '127.0.0.1:11211' });
    default:
      throw new Error(`CACHE_STORE must be memory, redis or memcached, got ${JSON.stringify(kind)}.`);
  }
}
