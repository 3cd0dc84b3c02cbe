import Redis from 'ioredis';
import type * as Memjs from 'memjs';

type MemjsModule = typeof Memjs;
import { memcachedStore, redisStore, type CacheStore } from 'nestjs-cache-memoize';
import { MemcachedServer, RedisServer } from '../test/support/servers';
import { appWith, user } from './fixtures';
import { bench, printTable } from './harness';

const KEYS = 1_000;
const CONCURRENCY = 100;

interface RawClient {
  name: string;
  set(key: string, json: string): Promise<unknown>;
  read(key: string): Promise<unknown>;
  close(): void;
}

/** A decorated method hit on `store` against the raw client reading the same JSON, in one run. */
async function sharedHitCase(title: string, ours: string, raw: RawClient, store: CacheStore): Promise<void> {
  for (let i = 0; i < KEYS; i++) await raw.set(`raw:${i}`, JSON.stringify(user(i)));
  const { moduleRef, users } = await appWith(store, KEYS, 'bench');
  const results = await bench(
    [
      { name: raw.name, run: (i) => raw.read(`raw:${i % KEYS}`) },
      { name: ours, run: (i) => users.getUser(i % KEYS) },
    ],
    { concurrency: CONCURRENCY },
  );
  printTable(`${title}, ${KEYS} keys, ${CONCURRENCY} concurrent callers`, results, {
    'ours / raw (target >= 0.85)': `${ours} / ${raw.name}`,
  });
  await moduleRef.close();
  raw.close();
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
