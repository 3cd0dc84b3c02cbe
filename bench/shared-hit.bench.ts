import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { CacheMemoize, CacheMemoizeModule, memcachedStore, redisStore, type CacheStore } from 'nestjs-cache-memoize';
import { MemcachedServer, RedisServer } from '../test/support/servers';
import { bench, printTable } from './harness';

const KEYS = 1_000;
const CONCURRENCY = 100;
const user = (id: number) => ({ id, name: `user ${id}`, email: `u${id}@example.com`, roles: ['reader', 'writer'], createdAt: new Date(1_700_000_000_000) });

@Injectable()
class UserService {
  @CacheMemoize({ ttl: '1h' })
  async getUser(id: number): Promise<ReturnType<typeof user>> {
    return user(id);
  }
}

async function appWith(store: CacheStore) {
  Logger.overrideLogger(false);
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: 'bench' })],
    providers: [UserService],
  }).compile();
  await moduleRef.init();
  const users = moduleRef.get(UserService);
  for (let i = 0; i < KEYS; i++) await users.getUser(i);
  await new Promise((r) => setTimeout(r, 200)); // let background writes land
  return { moduleRef, users };
}

export async function redisHitBench(): Promise<void> {
  const server = await RedisServer.launch();
  try {
    const raw = new Redis(server.url, { enableAutoPipelining: true });
    for (let i = 0; i < KEYS; i++) await raw.set(`raw:${i}`, JSON.stringify(user(i)));
    const { moduleRef, users } = await appWith(redisStore({ url: server.url }));
    const results = await bench(
      [
        { name: 'raw ioredis GET + JSON.parse (auto-pipelined)', run: async (i) => JSON.parse((await raw.get(`raw:${i % KEYS}`))!) },
        { name: '@CacheMemoize hit (redis store)', run: (i) => users.getUser(i % KEYS) },
      ],
      { concurrency: CONCURRENCY },
    );
    printTable(`redis hit, ${KEYS} keys, ${CONCURRENCY} concurrent callers`, results, {
      'ours / raw (target >= 0.85)': '@CacheMemoize hit (redis store) / raw ioredis GET + JSON.parse (auto-pipelined)',
    });
    await moduleRef.close();
    raw.disconnect();
  } finally {
    await server.stop();
  }
}

export async function memcachedHitBench(): Promise<void> {
  const server = await MemcachedServer.launch();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const memjs = require('memjs') as typeof import('memjs');
    const raw = memjs.Client.create(server.address, { logger: { log: () => undefined } });
    for (let i = 0; i < KEYS; i++) await raw.set(`raw:${i}`, JSON.stringify(user(i)), {});
    const { moduleRef, users } = await appWith(memcachedStore({ servers: server.address }));
    const results = await bench(
      [
        { name: 'raw memjs get + JSON.parse', run: async (i) => JSON.parse((await raw.get(`raw:${i % KEYS}`)).value!.toString()) },
        { name: '@CacheMemoize hit (memcached store)', run: (i) => users.getUser(i % KEYS) },
      ],
      { concurrency: CONCURRENCY },
    );
    printTable(`memcached hit, ${KEYS} keys, ${CONCURRENCY} concurrent callers`, results, {
      'ours / raw (target >= 0.85)': '@CacheMemoize hit (memcached store) / raw memjs get + JSON.parse',
    });
    await moduleRef.close();
    raw.close();
  } finally {
    await server.stop();
  }
}
