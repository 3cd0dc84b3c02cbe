import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { CacheMemoize, CacheMemoizeModule, memoryStore, redisStore, tieredStore, type CacheStore } from 'nestjs-cache-memoize';
import { RedisServer } from '../test/support/servers';
import { bench, printTable } from './harness';

const KEYS = 1_000;
const user = (id: number) => ({ id, name: `user ${id}`, roles: ['reader'] });

@Injectable()
class UserService {
  @CacheMemoize({ ttl: '1h' })
  async getUser(id: number): Promise<ReturnType<typeof user>> {
    return user(id);
  }
}

async function appWith(store: CacheStore) {
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: `tb${Math.random().toString(36).slice(2, 6)}` })],
    providers: [UserService],
  }).compile();
  await moduleRef.init();
  const users = moduleRef.get(UserService);
  for (let i = 0; i < KEYS; i++) await users.getUser(i);
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < KEYS; i++) await users.getUser(i); // tiered: fills L1 from L2
  return { moduleRef, users };
}

/** Tiered L1 hits against raw ioredis GET and against a plain memory store, in one run. */
export async function tieredBench(): Promise<void> {
  Logger.overrideLogger(false);
  const server = await RedisServer.launch();
  try {
    const raw = new Redis(server.url, { enableAutoPipelining: true });
    for (let i = 0; i < KEYS; i++) await raw.set(`raw:${i}`, JSON.stringify(user(i)));
    const tiered = await appWith(tieredStore(memoryStore(), redisStore({ url: server.url })));
    const memory = await appWith(memoryStore());
    const results = await bench([
      { name: 'raw ioredis GET + JSON.parse', run: async (i) => JSON.parse((await raw.get(`raw:${i % KEYS}`))!) },
      { name: '@CacheMemoize hit, tiered (L1)', run: (i) => tiered.users.getUser(i % KEYS) },
      { name: '@CacheMemoize hit, memory store', run: (i) => memory.users.getUser(i % KEYS) },
    ]);
    printTable(`tiered L1 hit, ${KEYS} keys, sequential awaits`, results, {
      'tiered / raw ioredis (target >= 10)': '@CacheMemoize hit, tiered (L1) / raw ioredis GET + JSON.parse',
      'tiered / memory (target >= 0.8)': '@CacheMemoize hit, tiered (L1) / @CacheMemoize hit, memory store',
    });
    await tiered.moduleRef.close();
    await memory.moduleRef.close();
    raw.disconnect();
  } finally {
    await server.stop();
  }
}
