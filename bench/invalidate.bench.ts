import 'reflect-metadata';
import { Memoizer } from '../lib/engine/memoizer';
import { testPolicy } from '../test/support/policy';
import { memoryStore, redisStore, type CacheStore } from 'nestjs-cache-memoize';
import { RedisServer } from '../test/support/servers';

/** invalidateTags() cost for one tag carried by 1,000 and by 100,000 entries: O(1), not O(entries). */
export async function invalidateBench(): Promise<void> {
  const server = await RedisServer.launch();
  try {
    console.log('\ninvalidateTags(["t"]), median of 21 calls, tag carried by N entries');
    for (const [name, make] of [
      ['memory', () => memoryStore({ maxEntries: 200_000, maxBytes: 2 ** 31 - 1 })],
      ['redis', () => redisStore({ url: server.url })],
    ] as Array<[string, () => CacheStore]>) {
      for (const n of [1_000, 100_000]) {
        const store = make();
        await store.ready?.(5_000);
        const prefix = `inv${n}`;
        const m = new Memoizer(store, { prefix });
        const policy = testPolicy({ ttlMs: 3_600_000, deps: [`${prefix}:~tag:t`] });
        for (let i = 0; i < n; i += 1_000) {
          await Promise.all(Array.from({ length: 1_000 }, (_, j) => m.getOrSet(`${prefix}:k${i + j}`, async () => i + j, policy)));
        }
        await new Promise((r) => setTimeout(r, 500));
        const times: number[] = [];
        for (let r = 0; r < 21; r++) {
          const t = performance.now();
          await m.invalidateDeps([`${prefix}:~tag:t`]);
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        console.log(`  ${name.padEnd(8)} ${String(n).padStart(7)} entries: ${times[10].toFixed(3)} ms`);
        await store.disconnect();
      }
    }
  } finally {
    await server.stop();
  }
}
