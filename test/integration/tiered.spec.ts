import Redis from 'ioredis';
import { memcachedStore, memoryStore, redisStore, tieredStore, type RedisStore, type TieredStore } from '../../lib';
import {
  closeClientOf,
  closeNodeRedisClients,
  nodeRedisCluster,
  nodeRedisSentinel,
  nodeRedisStore,
} from '../support/node-redis';
import { RedisSentinel, RedisServer } from '../support/servers';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { storeConformance } from '../../lib/testing';
import { WorkerProcess } from '../support/worker-process';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
afterAll(() => closeNodeRedisClients());

storeConformance('tiered: memory over redis, with bus', {
  make: () => tieredStore(memoryStore(), redisStore({ url: servers.redis })),
  ttlGranularityMs: 100,
});
storeConformance('tiered: memory over redis (node-redis client passed in), with bus', {
  make: () => tieredStore(memoryStore(), nodeRedisStore(servers.redis)),
  close: (store) => closeClientOf((store as TieredStore).l2),
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

describe.each(['ioredis', 'node-redis'])(
  'tiered store: two app instances in separate processes on one Redis (%s)',
  (client) => {
    let redis: RedisServer;
    let a: WorkerProcess;
    let b: WorkerProcess;
    beforeAll(async () => {
      redis = await RedisServer.launch();
      const prefix = uniquePrefix('tier');
      [a, b] = await Promise.all([
        WorkerProcess.start('test/support/app-worker.ts', [redis.url, prefix, client]),
        WorkerProcess.start('test/support/app-worker.ts', [redis.url, prefix, client]),
      ]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await redis?.stop();
    });

    it('B reads what A cached from L2 without running the method; A invalidates, B recomputes', async () => {
      const fromA = await a.send<Profile>({ op: 'get', id: 1 });
      await a.send({ op: 'settle' }); // A's write has landed
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
      await a.send({ op: 'settle' }); // A's write has landed
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
  },
);

/** Where a bus test runs: the stores it makes, and the Redis it may restart. */
interface BusSetup {
  make: () => RedisStore;
  /** A private single node that can be killed and started again (the shared cluster cannot). */
  server?: RedisServer;
  stop: () => Promise<void>;
}

const single = (make: (url: string) => RedisStore) => async (): Promise<BusSetup> => {
  const server = await RedisServer.launch();
  return { make: () => make(server.url), server, stop: () => server.stop() };
};

/** The invalidation bus itself: what one connection publishes, a subscriber on another receives. */
describe.each([
  ['ioredis', single((url) => redisStore({ url }))],
  ['node-redis client', single((url) => nodeRedisStore(url))],
  ['node-redis 5 client', single((url) => nodeRedisStore(url, undefined, 5))],
  [
    'node-redis 5 cluster',
    async (): Promise<BusSetup> => ({
      make: () => nodeRedisStore(nodeRedisCluster(servers.cluster, 5)),
      stop: async () => undefined,
    }),
  ],
  [
    'node-redis cluster',
    async (): Promise<BusSetup> => ({
      make: () => nodeRedisStore(nodeRedisCluster(servers.cluster)),
      stop: async () => undefined,
    }),
  ],
  [
    'node-redis sentinel',
    async (): Promise<BusSetup> => {
      const master = await RedisServer.launch();
      const sentinel = await RedisSentinel.launch(master.port);
      return {
        make: () => nodeRedisStore(nodeRedisSentinel([{ host: '127.0.0.1', port: sentinel.port }])),
        stop: async () => {
          await sentinel.stop();
          await master.stop();
        },
      };
    },
  ],
] as Array<[string, () => Promise<BusSetup>]>)('redis bus over %s', (_name, setup) => {
  let where: BusSetup | undefined;
  const stores: RedisStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.disconnect()));
    await closeNodeRedisClients();
    await where?.stop();
  });

  it('delivers what A publishes to B, and on a single node again after Redis restarts (subscriber reported down, then up)', async () => {
    where = await setup();
    const [a, b] = [where.make(), where.make()];
    stores.push(a, b);
    const channel = uniquePrefix('bus');
    const received: string[] = [];
    const states: boolean[] = [];
    const busA = a.createBus();
    const busB = b.createBus();
    busB.subscribe(
      [channel],
      (ch, text) => received.push(`${ch}=${text}`),
      (up) => states.push(up),
    );
    expect(
      await eventually(
        async () => states,
        (s) => s.includes(true),
        10_000,
      ),
    ).toContain(true);
    // On a cluster, PUBLISH counts only the subscribers of the node that took it (as with ioredis).
    expect(await busA.publish(channel, 'one')).toBeGreaterThanOrEqual(_name.includes('cluster') ? 0 : 1);
    await eventually(
      async () => received,
      (r) => r.length === 1,
    );
    expect(received).toEqual([`${channel}=one`]);

    const { server } = where;
    if (server !== undefined) {
      await server.kill();
      expect(
        (
          await eventually(
            async () => states,
            (s) => s.at(-1) === false,
            10_000,
          )
        ).at(-1),
      ).toBe(false);
      await server.start();
      expect(
        (
          await eventually(
            async () => states,
            (s) => s.at(-1) === true,
            15_000,
          )
        ).at(-1),
      ).toBe(true);
      await eventually(
        () => busA.publish(channel, 'two').catch(() => 0),
        (n) => n >= 1,
        15_000,
      );
      await eventually(
        async () => received,
        (r) => r.length >= 2,
      );
      expect(new Set(received)).toEqual(new Set([`${channel}=one`, `${channel}=two`]));
    }
    expect(states[0]).toBe(true);
    await Promise.all([busA.close(), busB.close()]);
  }, 60_000);
});

/**
 * On a Redis Cluster, PUBLISH answers with the subscribers of the node that took it only, though
 * the message reaches every node's subscribers. Two instances whose bus subscribers sit on two
 * different nodes: whichever node PUBLISH reaches, it counts at most one of the two, so an
 * invalidation that trusted that count could resolve before the other instance dropped its copy.
 */
describe('tiered store on a Redis Cluster', () => {
  const nodes = servers.cluster.map((n) => new Redis(n.port, n.host, { lazyConnect: true }));
  const engines: Memoizer[] = [];
  afterAll(async () => {
    await Promise.all([...engines].map((m) => close(m)));
    await closeNodeRedisClients();
    await Promise.all(nodes.map((n) => n.quit().catch(() => undefined)));
  });

  async function close(m: Memoizer): Promise<void> {
    engines.splice(engines.indexOf(m), 1);
    await m.close();
    await m.store.disconnect();
  }

  /** Subscribers of `channel` on each node (PUBSUB NUMSUB node by node). */
  function perNode(channel: string): Promise<number[]> {
    return Promise.all(
      nodes.map(async (n) => Number(((await n.pubsub('NUMSUB', channel)) as [string, number | string])[1])),
    );
  }

  /** Waits until `channel` has `count` subscribers in all, and says where they are. */
  async function subscribed(channel: string, count: number): Promise<number[]> {
    return eventually(
      () => perNode(channel),
      (n) => n.reduce((a, b) => a + b, 0) === count,
      10_000,
    );
  }

  async function instance(prefix: string, l2: RedisStore, lease?: number): Promise<Memoizer> {
    const store = tieredStore(memoryStore(), l2, { lease });
    expect(await store.ready(5_000)).toBe(true);
    const m = new Memoizer(store, { prefix });
    engines.push(m);
    return m;
  }

  /**
   * `rounds` times, on a new key each: B computes 'old' and serves it from memory; A invalidates
   * its tag; B's very next call must not return 'old'. Returns the rounds where it did.
   */
  async function race(a: Memoizer, b: Memoizer, prefix: string, rounds: number): Promise<string[]> {
    const stale: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const key = `${prefix}:k${round}`;
      const tag = `${prefix}:~tag:t${round}`;
      const policy = testPolicy({ ttlMs: 60_000, deps: [tag] });
      expect(await b.getOrSet(key, async () => 'old', policy)).toBe('old');
      // B holds it in memory and serves it from there (its bus lease is held). A lease that lapsed
      // (a ping slower than a 100 ms lease under load) drops L1: B's next call fills it again.
      expect(
        (
          await eventually(
            async () => (await b.getOrSet(key, async () => 'old', policy), b.inspect(key)),
            (i) => i.source === 'l1',
          )
        ).source,
      ).toBe('l1');
      await a.invalidateDeps([tag]);
      const next = await b.getOrSet(key, async () => 'new', policy);
      if (next !== 'new') stale.push(`round ${round}: ${String(next)}`);
    }
    return stale;
  }

  const busOf = (m: Memoizer) => (m.store as TieredStore).bus!;

  it.each([
    ['ioredis Cluster', () => redisStore({ cluster: servers.cluster })],
    ['node-redis cluster', () => nodeRedisStore(nodeRedisCluster(servers.cluster))],
    ['node-redis 5 cluster', () => nodeRedisStore(nodeRedisCluster(servers.cluster, 5))],
  ] as Array<[string, () => RedisStore]>)(
    "%s: after A's invalidation resolves, B's very next call does not see the old value (bus subscribers on different nodes, 200 rounds)",
    async (_name, make) => {
      const prefix = uniquePrefix('tcl');
      const channel = `${prefix}:~bus`;
      const a = await instance(prefix, make());
      await subscribed(channel, 1);
      let b = await instance(prefix, make());
      // The subscribers pick their node at random: start B again until it is not on A's node.
      for (let attempt = 0; Math.max(...(await subscribed(channel, 2))) > 1; attempt++) {
        if (attempt === 30) throw new Error('B never subscribed on another node than A');
        await close(b);
        await subscribed(channel, 1);
        b = await instance(prefix, make());
      }
      expect(await race(a, b, prefix, 200)).toEqual([]);
      // Both counted, though no node has both ('probe' is no message of the bus: ignored).
      expect(await busOf(a).publishCounted(channel, 'probe')).toBe(2);
    },
    120_000,
  );

  it("ioredis Cluster: while a node does not answer PUBSUB NUMSUB, the count is unknown and A's invalidation waits for the lease instead; B still never sees the old value", async () => {
    // A's user may not run PUBSUB NUMSUB on one node: there its count fails, as a node down's would.
    const user = uniquePrefix('bususer');
    await Promise.all(
      nodes.map((n, i) =>
        n.call(
          'ACL',
          'SETUSER',
          user,
          'reset',
          'on',
          '>pw',
          '~*',
          '&*',
          '+@all',
          ...(i === 0 ? ['-pubsub|numsub'] : []),
        ),
      ),
    );
    try {
      const prefix = uniquePrefix('tcu');
      const limited = redisStore({ cluster: servers.cluster, redisOptions: { username: user, password: 'pw' } });
      const a = await instance(prefix, limited, 100);
      const b = await instance(prefix, redisStore({ cluster: servers.cluster }), 100);
      await subscribed(`${prefix}:~bus`, 2);
      expect(await race(a, b, prefix, 20)).toEqual([]);
      expect(await busOf(a).publishCounted(`${prefix}:~bus`, 'probe')).toBeUndefined();
      expect(await busOf(b).publishCounted(`${prefix}:~bus`, 'probe')).toBe(2);
    } finally {
      await Promise.all(nodes.map((n) => n.call('ACL', 'DELUSER', user)));
    }
  }, 60_000);
});

describe('tiered over a node-redis 5 sentinel (its client cannot duplicate a connection for the bus)', () => {
  let servers5: { master: RedisServer; sentinel: RedisSentinel } | undefined;
  beforeAll(async () => {
    const master = await RedisServer.launch();
    servers5 = { master, sentinel: await RedisSentinel.launch(master.port) };
  });
  afterAll(async () => {
    await closeNodeRedisClients();
    await servers5?.sentinel.stop();
    await servers5?.master.stop();
  });
  const l2 = () =>
    nodeRedisStore(nodeRedisSentinel([{ host: '127.0.0.1', port: servers5!.sentinel.port }], 'mymaster', 5));

  it('refuses the bus with an error naming the fix, and works with bus: false', async () => {
    expect(() => tieredStore(memoryStore(), l2())).toThrow(/cannot duplicate\(\) its connection.*\{ bus: false \}/);
    const store = tieredStore(memoryStore(), l2(), { bus: false });
    expect(await store.ready(5_000)).toBe(true);
    const prefix = uniquePrefix('t5s');
    const a = new Memoizer(store, { prefix });
    const b = new Memoizer(tieredStore(memoryStore(), l2(), { bus: false }), { prefix });
    let runs = 0;
    const policy = testPolicy({ ttlMs: 60_000, deps: [] });
    expect(await a.getOrSet(`${prefix}:k`, async () => ++runs, policy)).toBe(1);
    await a.ctx.background.drain(3_000);
    expect(await b.getOrSet(`${prefix}:k`, async () => ++runs, policy)).toBe(1); // shared through L2
    await a.invalidateKeys([`${prefix}:k`]);
    expect(await b.getOrSet(`${prefix}:k`, async () => ++runs, policy)).toBe(2); // B's L1 copy is not served
    await a.close?.();
    await b.close?.();
  });
});
