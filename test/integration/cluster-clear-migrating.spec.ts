/*
 * InvalidationService.clear() / Memoizer.clear() on a healthy Redis Cluster while one slot is
 * being migrated (redis-cli --cluster reshard leaves slots MIGRATING/IMPORTING with keys already
 * moved). RedisStore.clear() SCANs each master and UNLINKs each key on that master's own
 * connection; a key the importing master holds for a slot it does not own yet answers MOVED
 * there, and clear() rejects (StoreFailureError) although every node answers, for every client
 * kind. Expected: clear() resolves (UNLINK through the cluster client, which follows MOVED/ASK).
 */
import Redis, { Cluster } from 'ioredis';
import { redisStore, type CacheStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { closeNodeRedisClients, nodeRedisCluster, nodeRedisStore } from '../support/node-redis';
import { startMigration } from '../support/cluster-slots';
import { RedisCluster } from '../support/servers';

jest.setTimeout(60_000);
let c: RedisCluster;
let admin: Redis[] = [];
beforeAll(async () => {
  c = await RedisCluster.launch(3);
  admin = c.nodes.map((n) => new Redis({ port: n.port, host: '127.0.0.1' }));
});
afterAll(async () => {
  await closeNodeRedisClients();
  admin.forEach((a) => a.disconnect());
  await c.stop();
});

const kinds: Array<[string, () => CacheStore]> = [
  ['redisStore({ cluster })', () => redisStore({ cluster: c.startupNodes })],
  ['ioredis Cluster passed in', () => redisStore({ client: new Cluster(c.startupNodes) as never })],
  ['node-redis createCluster', () => nodeRedisStore(nodeRedisCluster(c.startupNodes))],
];

describe.each(kinds)('%s', (_n, make) => {
  it('clear() resolves while a slot holding one of its keys is half migrated', async () => {
    const prefix = uniquePrefix('cm');
    const store = make();
    await store.ready?.(5_000);
    const m = new Memoizer(store, { prefix });
    const allDep = `${prefix}:~all`;
    const policy = testPolicy({ ttlMs: 600_000, deps: [allDep] });
    const key = `${prefix}:k`;
    let outcome = 'resolved';
    const slot = Number(await admin[0].cluster('KEYSLOT', key));
    let migration: Awaited<ReturnType<typeof startMigration>> | undefined;
    try {
      expect(await m.getOrSet(key, async () => 'v1', policy)).toBe('v1');
      await m.ctx.background.drain(2_000);
      // Resharding under way: the key already moved, its slot not yet handed over.
      migration = await startMigration(admin, c.nodes, slot);
      await admin[migration.src].migrate('127.0.0.1', c.nodes[migration.dst].port, '', 0, 5000, 'KEYS', key);
      await m.clear(`${prefix}:`, allDep).catch((e: Error) => (outcome = `rejected: ${e.message.slice(0, 200)}`));
    } finally {
      await migration?.finish();
      await m.close();
      await store.disconnect();
      const cl = (store as { client?: unknown }).client;
      if (cl instanceof Cluster) cl.disconnect();
    }
    expect(outcome).toBe('resolved');
  });
});
