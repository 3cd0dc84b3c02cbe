import { memcachedStore, memoryStore, redisStore, tieredStore } from '../../lib';
import { RedisServer } from '../support/servers';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { storeConformance } from '../../lib/testing';
import { WorkerProcess } from '../support/worker-process';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

storeConformance('tiered: memory over redis, with bus', {
  make: () => tieredStore(memoryStore(), redisStore({ url: servers.redis })),
  ttlGranularityMs: 100,
});
storeConformance('tiered: memory over memcached, no bus', {
  make: () => tieredStore(memoryStore(), memcachedStore({ servers: servers.memcached[0] })),
  ttlGranularityMs: 1000,
});

type Profile = { id: number; by: number; run: number };

/** Polls `read` until `done` holds (the bus is asynchronous), or gives up after `ms`. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 3_000): Promise<T> {
  const end = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < end) {
    await sleep(20);
    value = await read();
  }
  return value;
}

describe('tiered store: two app instances in separate processes on one Redis', () => {
  let redis: RedisServer;
  let a: WorkerProcess;
  let b: WorkerProcess;
  beforeAll(async () => {
    redis = await RedisServer.launch();
    const prefix = uniquePrefix('tier');
    [a, b] = await Promise.all([
      WorkerProcess.start('test/support/app-worker.ts', [redis.url, prefix]),
      WorkerProcess.start('test/support/app-worker.ts', [redis.url, prefix]),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('B reads what A cached from L2 without running the method; A invalidates, B recomputes', async () => {
    const fromA = await a.send<Profile>({ op: 'get', id: 1 });
    await sleep(50);
    const fromB = await b.send<Profile>({ op: 'get', id: 1 });
    expect(fromB).toEqual(fromA); // A's value, from Redis
    expect((await b.send<{ runs: number }>({ op: 'runs' })).runs).toBe(0);
    expect(await b.send<Profile>({ op: 'get', id: 1 })).toEqual(fromA); // now from B's L1

    await a.send({ op: 'invalidate', tag: 'profile:1' });
    const after = await eventually(
      () => b.send<Profile>({ op: 'get', id: 1 }),
      (p) => p.by !== fromA.by,
      1_000,
    );
    expect(after.by).not.toBe(fromA.by); // B recomputed: no stale L1
    expect((await b.send<{ runs: number }>({ op: 'runs' })).runs).toBe(1);
  });

  it('keeps answering while Redis restarts, and coherence resumes', async () => {
    const before = await a.send<Profile>({ op: 'get', id: 2 });
    await sleep(50);
    await b.send<Profile>({ op: 'get', id: 2 });
    await redis.kill();
    for (let i = 0; i < 5; i++) {
      expect((await a.send<Profile>({ op: 'get', id: 2 })).id).toBe(2);
      expect((await b.send<Profile>({ op: 'get', id: 10 + i })).id).toBe(10 + i);
    }
    await redis.start(); // empty: it kept nothing
    // Once the bus is back, an invalidation on B reaches A's L1 again.
    const cached = await eventually(
      async () => {
        await a.send({ op: 'get', id: 3 });
        await sleep(100);
        return a.send<Profile>({ op: 'get', id: 3 });
      },
      () => true,
      100,
    );
    const invalidated = await eventually(
      async () => {
        await b.send({ op: 'invalidate', tag: 'profile:3' });
        await sleep(50);
        return a.send<Profile>({ op: 'get', id: 3 });
      },
      (p) => p.run !== cached.run,
      15_000,
    );
    expect(invalidated.run).not.toBe(cached.run);
    expect(before.id).toBe(2);
  }, 60_000);
});
