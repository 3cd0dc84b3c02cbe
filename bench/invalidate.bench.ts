import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeModule,
  InvalidationService,
  memoryStore,
  redisStore,
  type CacheStore,
} from 'nestjs-cache-memoize';
import { RedisServer } from '../test/support/servers';

@Injectable()
class Catalog {
  @CacheMemoize({ ttl: '1h', tags: ['t'] })
  async item(id: number): Promise<number> {
    return id;
  }
}

/** invalidateTags() cost for one tag carried by 1,000 and by 100,000 entries: O(1), not O(entries). */
export async function invalidateBench(): Promise<void> {
  Logger.overrideLogger(false);
  const server = await RedisServer.launch();
  try {
    console.log('\ninvalidateTags(["t"]), median of 21 calls, tag carried by N entries');
    for (const [name, make] of [
      ['memory', () => memoryStore({ maxEntries: 200_000, maxBytes: 2 ** 31 - 1 })],
      ['redis', () => redisStore({ url: server.url })],
    ] as Array<[string, () => CacheStore]>) {
      for (const n of [1_000, 100_000]) {
        const app = await Test.createTestingModule({
          imports: [CacheMemoizeModule.forRoot({ stores: { default: make() }, prefix: `inv${n}` })],
          providers: [Catalog],
        }).compile();
        await app.init();
        const catalog = app.get(Catalog);
        const invalidation = app.get(InvalidationService);
        for (let i = 0; i < n; i += 1_000)
          await Promise.all(Array.from({ length: 1_000 }, (_, j) => catalog.item(i + j)));
        await new Promise((r) => setTimeout(r, 500));
        const times: number[] = [];
        for (let r = 0; r < 21; r++) {
          const t = performance.now();
          await invalidation.invalidateTags(['t']);
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        console.log(`  ${name.padEnd(8)} ${String(n).padStart(7)} entries: ${times[10].toFixed(3)} ms`);
        await app.close();
      }
    }
  } finally {
    await server.stop();
  }
}
