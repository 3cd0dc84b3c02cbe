import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { memoryStore, redisStore, tieredStore } from 'nestjs-cache-memoize';
import { RedisServer } from '../test/support/servers';
import { appWith, user } from './fixtures';
import { bench, printTable } from './harness';

const KEYS = 1_000;

/** Tiered L1 hits against raw ioredis GET and against a plain memory store, in one run. */
export async function tieredBench(): Promise<void> {
  Logger.overrideLogger(false);
  const server = await RedisServer.launch();
  try {
    const raw = new Redis(server.url, { enableAutoPipelining: true });
    for (let i = 0; i < KEYS; i++) await raw.set(`raw:${i}`, JSON.stringify(user(i)));
    const tiered = await appWith(tieredStore(memoryStore(), redisStore({ url: server.url })), KEYS);
    const memory = await appWith(memoryStore(), KEYS);
    const results = await bench([
      { name: 'raw ioredis GET + JSON.parse', run: async (i) => JSON.parse((await raw.get(`raw:${i % KEYS}`))!) },
      { name: '@CacheMemoize hit, tiered (L1)', run: (i) => tiered.users.getUser(i % KEYS) },
      { name: '@CacheMemoize hit, memory store', run: (i) => memory.users.getUser(i % KEYS) },
    ]);
    printTable(`tiered L1 hit, ${KEYS} keys, sequential awaits`, results, {
      'tiered / raw ioredis (target >= 10)': '@CacheMemoize hit, tiered (L1) / raw ioredis GET + JSON.parse',
      'tiered / memory (target >= 0.8)': '@CacheMemoize hit, tiered (L1) / @CacheMemoize hit, memory store',
    });
    // The one precise clock read an L1 hit takes (for the bus lease), as lib/util/clock.ts makes it
    // (`performance` held once) and through the global, a lazy getter on every access.
    const origin = performance.timeOrigin;
    const held = performance;
    const clocks = await bench([
      { name: 'clock read, `performance` held once', run: () => origin + held.now() },
      { name: 'clock read through the global', run: () => origin + performance.now() },
    ]);
    printTable('engine clock read (one per tiered L1 hit)', clocks, {
      'held / global': 'clock read, `performance` held once / clock read through the global',
    });
    await tiered.moduleRef.close();
    await memory.moduleRef.close();
    raw.disconnect();
  } finally {
    await server.stop();
  }
}
