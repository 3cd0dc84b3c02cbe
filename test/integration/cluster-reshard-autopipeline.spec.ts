/*
 * redisStore({ cluster }) (the ioredis Cluster the module creates, with enableAutoPipelining) on a
 * healthy cluster whose slots are being moved (routine resharding): auto-pipelined commands that
 * meet MOVED/ASK, or whose slot map changed while queued, fail instead of following the redirect.
 * The failures are misses, open the circuit breaker, and make invalidations reject with
 * StoreFailureError although every node answers. Control: the same ioredis Cluster without
 * auto-pipelining, passed in as { client }, has no failure at all.
 */
import Redis, { Cluster } from 'ioredis';
import { redisStore, type CacheStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { setTimeout as sleep } from 'node:timers/promises';
import { startMigration } from '../support/cluster-slots';
import { RedisCluster } from '../support/servers';

jest.setTimeout(120_000);
let c: RedisCluster;
let admin: Redis[] = [];
beforeAll(async () => {
  c = await RedisCluster.launch(3);
  admin = c.nodes.map((n) => new Redis({ port: n.port, host: '127.0.0.1' }));
});
afterAll(async () => {
  admin.forEach((a) => a.disconnect());
  await c.stop();
});

/** Moves `slot` to the next master, as redis-cli --cluster reshard does. */
async function migrate(slot: number): Promise<void> {
  const { src, dst, finish } = await startMigration(admin, c.nodes, slot);
  await sleep(5);
  for (;;) {
    const keys = (await admin[src].cluster('GETKEYSINSLOT', slot, 10)) as string[];
    if (keys.length === 0) break;
    await admin[src].migrate('127.0.0.1', c.nodes[dst].port, '', 0, 5000, 'REPLACE', 'KEYS', ...keys);
  }
  await finish();
}

// Redirects, not speed, are under test: time budgets of 2 s keep a loaded machine from failing a call.
const kinds: Array<[string, () => CacheStore, boolean]> = [
  [
    'redisStore({ cluster }) (module-created ioredis Cluster)',
    () => redisStore({ cluster: c.startupNodes, commandTimeout: 2_000 }),
    true,
  ],
  [
    'control: ioredis Cluster without auto-pipelining passed in',
    () => redisStore({ client: new Cluster(c.startupNodes, { redisOptions: { commandTimeout: 2_000 } }) as never }),
    false,
  ],
];

describe.each(kinds)('%s', (_n, make) => {
  it('moving the slots of the epoch and of the keys fails no invalidation and no store call', async () => {
    const prefix = uniquePrefix('rs');
    const errors: string[] = [];
    const store = make();
    await store.ready?.(5_000);
    const m = new Memoizer(store, {
      prefix,
      operationTimeoutMs: 2_000,
      listener: ((e: { type: string; operation?: string; error?: Error }) => {
        if (e.type === 'error') errors.push(`${e.operation}: ${String(e.error?.message).slice(0, 90)}`);
      }) as never,
    });
    const tag = `${prefix}:~t:x`;
    const policy = testPolicy({ ttlMs: 600_000, deps: [tag] });
    const keys = Array.from({ length: 8 }, (_, i) => `${prefix}:k${i}`);
    const slots = [
      ...new Set(
        await Promise.all(
          [`${prefix}:~epoch`, tag, ...keys].map(async (k) => Number(await admin[0].cluster('KEYSLOT', k))),
        ),
      ),
    ];
    const rejected: string[] = [];
    let stop = false;
    const loop = async () => {
      let db = 0;
      while (!stop) {
        await Promise.all(keys.map((k) => m.getOrSet(k, async () => db, policy)));
        db++;
        await m.invalidateDeps([tag]).catch((e: Error) => rejected.push(e.message.slice(0, 140)));
        await sleep(2);
      }
    };
    const load = Promise.all([loop(), loop(), loop()]);
    try {
      for (let i = 0; i < 30; i++) await migrate(slots[i % slots.length]);
      await sleep(200);
    } finally {
      stop = true;
      await load;
      await m.close();
      await store.disconnect();
      const cl = (store as { client?: unknown }).client;
      if (cl instanceof Cluster) cl.disconnect();
    }
    console.log(_n, {
      rejected: rejected.length,
      firstRejected: rejected[0],
      errors: errors.length,
      someErrors: [...new Set(errors)].slice(0, 4),
    });
    expect({ rejectedInvalidations: rejected.length, storeErrors: errors.length }).toEqual({
      rejectedInvalidations: 0,
      storeErrors: 0,
    });
  });
});
