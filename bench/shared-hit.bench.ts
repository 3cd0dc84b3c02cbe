import { createCache as createAsyncCacheDedupe } from 'async-cache-dedupe';
import type * as Bento from 'bentocache';
import type * as BentoRedis from 'bentocache/drivers/redis';
import Redis from 'ioredis';
import type * as Memjs from 'memjs';

type MemjsModule = typeof Memjs;
import { memcachedStore, redisStore, type CacheStore } from 'nestjs-cache-memoize';
import { MemcachedServer, RedisServer } from '../test/support/servers';
import { importEsm } from './esm';
import { appWith, user } from './fixtures';
import { bench, fastestOf, printTable } from './harness';

const KEYS = 1_000;
const CONCURRENCY = 100;

interface RawClient {
  name: string;
  set(key: string, json: string): Promise<unknown>;
  read(key: string): Promise<unknown>;
  close(): void;
}

/** Another caching library's memoized call of the same method on the same server. */
interface LibraryClient {
  name: string;
  /** Short name for the ratio labels. */
  label: string;
  getUser(id: number): Promise<unknown>;
  close(): Promise<void> | void;
}

/**
 * A decorated method hit on `store` against the raw client reading the same JSON and against other
 * libraries' hits, in one run. Every cache is filled (each key computed once, background writes
 * given time to land, then read once) before the measured rounds, so they time the hit path only.
 */
async function sharedHitCase(
  title: string,
  ours: string,
  raw: RawClient,
  store: CacheStore,
  libraries: LibraryClient[] = [],
): Promise<void> {
  for (let i = 0; i < KEYS; i++) await raw.set(`raw:${i}`, JSON.stringify(user(i)));
  const { moduleRef, users } = await appWith(store, KEYS, 'bench');
  for (const lib of libraries) for (let i = 0; i < KEYS; i++) await lib.getUser(i);
  await new Promise((r) => setTimeout(r, 200));
  for (const lib of libraries) for (let i = 0; i < KEYS; i++) await lib.getUser(i);
  const results = await bench(
    [
      { name: raw.name, run: (i) => raw.read(`raw:${i % KEYS}`) },
      { name: ours, run: (i) => users.getUser(i % KEYS) },
      ...libraries.map((lib) => ({ name: lib.name, run: (i: number) => lib.getUser(i % KEYS) })),
    ],
    { concurrency: CONCURRENCY },
  );
  const libraryRatios: Record<string, string> = {};
  if (libraries.length > 0) {
    const names = libraries.map((l) => l.name);
    libraryRatios['ours / fastest library'] = `${ours} / ${fastestOf(results, names)}`;
    for (const lib of libraries) libraryRatios[`ours / ${lib.label}`] = `${ours} / ${lib.name}`;
  }
  printTable(`${title}, ${KEYS} keys, ${CONCURRENCY} concurrent callers`, results, {
    'ours / raw (target >= 0.85)': `${ours} / ${raw.name}`,
    ...libraryRatios,
  });
  await moduleRef.close();
  raw.close();
  for (const lib of libraries) await lib.close();
}

/**
 * bentocache and async-cache-dedupe on Redis, each on its own ioredis connection with auto-pipelining
 * (as the raw baseline has: under 100 concurrent callers it only helps them). cache-manager 7 needs
 * `@keyv/redis` for Redis, which is not a dependency here, so it is measured in memory only.
 */
async function redisLibraries(url: string): Promise<LibraryClient[]> {
  const ttlMs = 3_600_000;
  const { BentoCache, bentostore } = await importEsm<typeof Bento>('bentocache');
  const { redisDriver } = await importEsm<typeof BentoRedis>('bentocache/drivers/redis');
  const bentoConnection = new Redis(url, { enableAutoPipelining: true });
  // L2 only: a Redis hit each call, no in-process layer in front (that would be the tiered bench).
  const bento = new BentoCache({
    default: 'redis',
    ttl: ttlMs,
    stores: { redis: bentostore().useL2Layer(redisDriver({ connection: bentoConnection })) },
  });
  const acdClient = new Redis(url, { enableAutoPipelining: true });
  const acd = createAsyncCacheDedupe({
    ttl: ttlMs / 1000,
    storage: { type: 'redis', options: { client: acdClient } },
  }).define('getUser', async (id: number) => user(id));
  const libraries: LibraryClient[] = [
    {
      name: 'bentocache 1.6 getOrSet() hit (redis L2)',
      label: 'bentocache',
      getUser: (id) => bento.getOrSet({ key: JSON.stringify(['getUser', id]), factory: async () => user(id) }),
      close: async () => {
        await bento.disconnectAll();
        bentoConnection.disconnect();
      },
    },
    {
      name: 'async-cache-dedupe 3 hit (redis)',
      label: 'async-cache-dedupe',
      getUser: (id) => acd.getUser(id),
      close: () => acdClient.disconnect(),
    },
  ];
  return libraries;
}

export async function redisHitBench(): Promise<void> {
  const server = await RedisServer.launch();
  try {
    const client = new Redis(server.url, { enableAutoPipelining: true });
    await sharedHitCase(
      'redis hit',
      '@CacheMemoize hit (redis store)',
      {
        name: 'raw ioredis GET + JSON.parse (auto-pipelined)',
        set: (k, json) => client.set(k, json),
        read: async (k) => JSON.parse((await client.get(k))!),
        close: () => client.disconnect(),
      },
      redisStore({ url: server.url }),
      await redisLibraries(server.url),
    );
  } finally {
    await server.stop();
  }
}

export async function memcachedHitBench(): Promise<void> {
  const server = await MemcachedServer.launch();
  try {
    const memjs = require('memjs') as MemjsModule;
    const client = memjs.Client.create(server.address, { logger: { log: () => undefined } });
    await sharedHitCase(
      'memcached hit',
      '@CacheMemoize hit (memcached store)',
      {
        name: 'raw memjs get + JSON.parse',
        set: (k, json) => client.set(k, json, {}),
        read: async (k) => JSON.parse((await client.get(k)).value!.toString()),
        close: () => client.close(),
      },
      memcachedStore({ servers: server.address }),
    );
  } finally {
    await server.stop();
  }
}
