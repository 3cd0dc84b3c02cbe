import Redis, { Cluster } from 'ioredis';
import { memcachedStore, memoryStore, redisStore, type MemcachedClientLike } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { freePort, MemcachedServer, RedisSentinel, RedisServer } from '../support/servers';
import { Logger } from '@nestjs/common';
import { drained } from '../support/settle';
import { sharedServers } from '../support/shared-servers';
import { storeConformance } from '../../lib/testing';
import { closeIoredis5Clients, ioredis5ClusterStore, ioredis5Store } from '../support/ioredis5';
import { Cluster as ValkeyCluster, Valkey } from 'iovalkey';
import {
  closeClientOf,
  closeNodeRedisClients,
  nodeRedisClient,
  nodeRedisCluster,
  nodeRedisSentinel,
  nodeRedisStore,
} from '../support/node-redis';

const servers = sharedServers();
afterAll(() => closeNodeRedisClients());
afterAll(() => closeIoredis5Clients());

storeConformance('memory', { make: () => memoryStore(), ttlGranularityMs: 100, connectAgain: (first) => first });
storeConformance('redis, single node (url)', { make: () => redisStore({ url: servers.redis }), ttlGranularityMs: 100 });
storeConformance('redis, single node (client passed in)', {
  make: () => redisStore({ client: new Redis(servers.redis) }),
  close: (store) => (store as ReturnType<typeof redisStore>).client.disconnect(),
  ttlGranularityMs: 100,
});
storeConformance('redis cluster, 3 masters', {
  make: () => redisStore({ cluster: servers.cluster }),
  ttlGranularityMs: 100,
});
// node-redis (`redis` 5+): a client, a cluster and a sentinel passed in, through the adapter.
storeConformance('redis, single node (node-redis createClient)', {
  make: () => nodeRedisStore(servers.redis),
  close: closeClientOf,
  ttlGranularityMs: 100,
});
storeConformance('redis cluster, 3 masters (node-redis createCluster)', {
  make: () => nodeRedisStore(nodeRedisCluster(servers.cluster)),
  close: closeClientOf,
  ttlGranularityMs: 100,
});
// node-redis 5, the older major of `redis 5 or later` (README), through the same adapter.
storeConformance('redis, single node (node-redis 5 createClient)', {
  make: () => nodeRedisStore(servers.redis, undefined, 5),
  close: closeClientOf,
  ttlGranularityMs: 100,
});
storeConformance('redis cluster, 3 masters (node-redis 5 createCluster)', {
  make: () => nodeRedisStore(nodeRedisCluster(servers.cluster, 5)),
  close: closeClientOf,
  ttlGranularityMs: 100,
});
let sentinelServers: Promise<{ master: RedisServer; sentinel: RedisSentinel }> | undefined;
afterAll(async () => {
  const started = await sentinelServers;
  await started?.sentinel.stop();
  await started?.master.stop();
});
storeConformance('redis through Sentinel (node-redis createSentinel)', {
  make: async () => {
    sentinelServers ??= RedisServer.launch().then(async (master) => ({
      master,
      sentinel: await RedisSentinel.launch(master.port),
    }));
    const { sentinel } = await sentinelServers;
    return nodeRedisStore(nodeRedisSentinel([{ host: '127.0.0.1', port: sentinel.port }]));
  },
  close: closeClientOf,
  ttlGranularityMs: 100,
});
storeConformance('redis through Sentinel (node-redis 5 createSentinel)', {
  make: async () => {
    sentinelServers ??= RedisServer.launch().then(async (master) => ({
      master,
      sentinel: await RedisSentinel.launch(master.port),
    }));
    const { sentinel } = await sentinelServers;
    return nodeRedisStore(nodeRedisSentinel([{ host: '127.0.0.1', port: sentinel.port }], 'mymaster', 5));
  },
  close: closeClientOf,
  ttlGranularityMs: 100,
});
// iovalkey (the Valkey fork of ioredis) is an ioredis-shaped client: used as is.
storeConformance('redis, single node (iovalkey client passed in)', {
  make: () => redisStore({ client: new Valkey(servers.redis) }),
  close: (store) => (store as ReturnType<typeof redisStore>).client.disconnect(),
  ttlGranularityMs: 100,
});
storeConformance('redis cluster, 3 masters (iovalkey Cluster passed in)', {
  make: () => redisStore({ client: new ValkeyCluster(servers.cluster) }),
  close: (store) => (store as ReturnType<typeof redisStore>).client.disconnect(),
  ttlGranularityMs: 100,
});
// ioredis 5, the older major of the peer range, passed in as an app on it would.
storeConformance('redis, single node (ioredis 5 client passed in)', {
  make: () => ioredis5Store(servers.redis),
  ttlGranularityMs: 100,
});
storeConformance('redis cluster, 3 masters (ioredis 5 Cluster passed in)', {
  make: () => ioredis5ClusterStore(servers.cluster),
  ttlGranularityMs: 100,
});
storeConformance('memcached, one server', {
  make: () => memcachedStore({ servers: servers.memcached[0] }),
  ttlGranularityMs: 1000,
});
storeConformance('memcached, two servers', {
  make: () => memcachedStore({ servers: servers.memcached.join(',') }),
  ttlGranularityMs: 1000,
});
// A client passed in with its own value serializer: the store goes through memjs' get(key, cb).
storeConformance('memcached, memjs client with a value serializer', {
  make: () => memcachedStore({ client: memjsClient(servers.memcached[0], { serializer: xorSerializer }) }),
  close: (store) => (store as ReturnType<typeof memcachedStore>).client.close(),
  ttlGranularityMs: 1000,
});
// A client offering only promises (a wrapper, a different library adapted to the interface).
storeConformance('memcached, promise-only client', {
  make: () => memcachedStore({ client: promiseOnly(memjsClient(servers.memcached[0])) }),
  close: (store) => (store as ReturnType<typeof memcachedStore>).client.close(),
  ttlGranularityMs: 1000,
});

function memjsClient(servers: string, options: object = {}): MemcachedClientLike {
  const memjs = require('memjs') as { Client: { create(servers: string, options: object): MemcachedClientLike } };
  return memjs.Client.create(servers, { logger: { log: () => undefined }, ...options });
}

/** Stores every byte XORed with 0x5a: what reaches the server differs from what the store wrote. */
const xorSerializer = {
  serialize: (opcode: number, value: Buffer | string, extras: Buffer) => ({ value: xor(Buffer.from(value)), extras }),
  deserialize: (opcode: number, value: Buffer | null, extras: Buffer) => ({ value: value && xor(value), extras }),
};
const xor = (bytes: Buffer) => Buffer.from(bytes.map((b) => b ^ 0x5a));

function promiseOnly(client: MemcachedClientLike): MemcachedClientLike {
  return {
    get: (key) => client.get(key),
    set: (key, value, options) => client.set(key, value, options),
    add: (key, value, options) => client.add(key, value, options),
    delete: (key) => client.delete(key),
    quit: () => client.quit(),
    close: () => client.close(),
  };
}

describe('client ownership', () => {
  it('never closes a Redis client passed in, closes its own', async () => {
    const client = new Redis(servers.redis);
    const passed = redisStore({ client });
    await passed.set('own:x', new Uint8Array([1]), 1000);
    await passed.disconnect();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();

    const own = redisStore({ url: servers.redis });
    await own.ready(2000);
    await own.disconnect();
    expect(own.client.status).toBe('end');
  });

  it('never closes a node-redis client passed in; bounds each of its commands; keeps its connection errors from throwing', async () => {
    const client = nodeRedisClient(servers.redis);
    const passed = redisStore({ client });
    expect(passed.boundsOwnOperations).toBe(true); // the adapter's timer bounds every command
    expect(redisStore({ client: new Redis(servers.redis, { lazyConnect: true }) }).boundsOwnOperations).toBe(false);
    expect(await passed.ready(5_000)).toBe(true);
    await passed.set('own:nr', new Uint8Array([1]), 1000);
    await passed.disconnect();
    expect(await client.ping()).toBe('PONG');
    expect(client.listenerCount('error')).toBeGreaterThan(0); // a connection error never throws
  });

  it.each([
    ['ioredis Cluster', () => new Cluster(servers.cluster)],
    ['node-redis createCluster', () => nodeRedisCluster(servers.cluster)],
    ['node-redis 5 createCluster', () => nodeRedisCluster(servers.cluster, 5)],
  ])('cluster keys of different slots never raise CROSSSLOT (%s)', async (_name, connect) => {
    const cluster = connect();
    const store = redisStore({ client: cluster });
    expect(await store.ready(5_000)).toBe(true);
    const keys = Array.from({ length: 50 }, (_, i) => `slot${i}:k`);
    await Promise.all(keys.map((k) => store.set(k, new Uint8Array([1]), 10_000)));
    expect((await store.getMany(keys)).every((v) => v !== undefined)).toBe(true);
    expect(await store.deleteMany(keys)).toBe(50);
    await store.clear('slot');
    if (cluster instanceof Cluster) cluster.disconnect();
    else cluster.destroy();
  });
});

describe('redis connection options', () => {
  const roundTrip = async (store: ReturnType<typeof redisStore>) => {
    expect(await store.ready(5_000)).toBe(true);
    await store.set('opt:k', new Uint8Array([7]), 10_000);
    const value = await store.get('opt:k');
    await store.disconnect();
    return value && [...value];
  };

  it('passes AUTH through the url and through redisOptions (password, ACL user)', async () => {
    const server = await RedisServer.launch(['--requirepass', 's3cret']);
    try {
      expect(await roundTrip(redisStore({ url: `redis://:s3cret@127.0.0.1:${server.port}` }))).toEqual([7]);
      expect(
        await roundTrip(redisStore({ url: server.url, redisOptions: { username: 'default', password: 's3cret' } })),
      ).toEqual([7]);
      const denied = redisStore({ url: server.url, connectTimeout: 500 });
      expect(await denied.ready(1_000)).toBe(false);
      await expect(denied.get('opt:k')).rejects.toThrow();
      await denied.disconnect();
    } finally {
      await server.stop();
    }
  });

  it.each([
    ['offline queue on (the default)', {}],
    ['disableOfflineQueue', { disableOfflineQueue: true }],
  ])(
    'a node-redis client that cannot reach Redis (%s): a command fails within the bound, saying where and why',
    async (_name, options) => {
      const port = await freePort();
      const store = nodeRedisStore(nodeRedisClient(`redis://127.0.0.1:${port}`, options), 200);
      expect(await store.ready(300)).toBe(false);
      await expect(store.get('opt:k')).rejects.toThrow(`cannot reach Redis at 127.0.0.1:${port} (connection refused)`);
      await expect(store.getMany(['opt:k', 'opt:j'])).rejects.toThrow('cannot reach Redis');
      await closeClientOf(store);
    },
  );

  it('finds the master through Sentinel', async () => {
    const master = await RedisServer.launch();
    const sentinel = await RedisSentinel.launch(master.port);
    try {
      expect(
        await roundTrip(redisStore({ sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'mymaster' })),
      ).toEqual([7]);
      expect(master.cli('get', 'opt:k')).not.toBe('');
    } finally {
      await sentinel.stop();
      await master.stop();
    }
  });
});

describe('memcached requests', () => {
  type Socket = { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const stores: Array<ReturnType<typeof memcachedStore>> = [];
  afterAll(() => Promise.all(stores.map((s) => s.disconnect())));
  const internals = (store: ReturnType<typeof memcachedStore>) =>
    store.client as unknown as { seq: number; servers: Array<{ _socket?: Socket }> };

  it('sends a batch of gets in one write per server', async () => {
    const store = memcachedStore({ servers: servers.memcached[0] });
    stores.push(store);
    const keys = Array.from({ length: 40 }, (_, i) => `batch${process.pid}:k${i}`);
    await Promise.all(keys.map((k, i) => store.set(k, Buffer.from(`v${i}`), 10_000)));
    const socket = internals(store).servers[0]._socket!;
    const calls = { write: 0, writev: 0 };
    const { _write, _writev } = socket;
    socket._write = (...a) => (calls.write++, _write.apply(socket, a));
    socket._writev = (...a) => (calls.writev++, _writev.apply(socket, a));
    const values = await store.getMany(keys);
    expect(values.map((v) => Buffer.from(v!).toString())).toEqual(keys.map((_, i) => `v${i}`));
    expect(calls).toEqual({ write: 0, writev: 1 });
  });

  it('offers compare-and-set and compare-and-delete on memjs (CAS tokens), and neither on other clients', async () => {
    const store = memcachedStore({ servers: servers.memcached[0] });
    const other = memcachedStore({ client: promiseOnly(memjsClient(servers.memcached[0])) });
    stores.push(store, other);
    expect([typeof store.compareAndSet, typeof store.compareAndDelete]).toEqual(['function', 'function']);
    expect([other.compareAndSet, other.compareAndDelete]).toEqual([undefined, undefined]);
    // A write between its read and its own write fails the CAS even when it wrote the same bytes.
    const key = `cas${process.pid}:k`;
    const client = store.client as unknown as { perform: (...a: unknown[]) => void };
    const perform = client.perform;
    /** Runs `meanwhile` once, after the next request's answer arrived and before the store sees it. */
    const afterNextAnswer = (meanwhile: () => Promise<unknown>) => {
      client.perform = function (this: unknown, ...a: unknown[]) {
        client.perform = perform;
        const callback = a[3] as (e: unknown, r: unknown) => void;
        a[3] = (e: unknown, r: unknown) => void meanwhile().then(() => callback(e, r));
        return perform.apply(this, a);
      };
    };
    await store.set(key, Buffer.from('v'), 10_000);
    afterNextAnswer(() => other.set(key, Buffer.from('v'), 10_000));
    expect(await store.compareAndSet!(key, Buffer.from('v'), Buffer.from('w'), 10_000)).toBe(false);
    expect(Buffer.from((await store.get(key))!).toString()).toBe('v');
    expect(await store.compareAndSet!(key, Buffer.from('v'), Buffer.from('w'), 10_000)).toBe(true);
    expect(Buffer.from((await other.get(key))!).toString()).toBe('w');
    // A lock that expired and was taken by another holder between the release's read and its
    // delete stays the new holder's (check-then-delete would free it).
    const lock = `cas${process.pid}:lock`;
    await store.add(lock, Buffer.from('old holder'), 10_000);
    afterNextAnswer(async () => {
      await other.delete(lock); // expired
      await other.add(lock, Buffer.from('new holder'), 10_000);
    });
    expect(await store.compareAndDelete!(lock, Buffer.from('old holder'))).toBe(false);
    expect(Buffer.from((await store.get(lock))!).toString()).toBe('new holder');
  });

  it('on a server without CAS (memcached -C) refuses compare-and-set, deletes by check-then-delete, and says so once', async () => {
    const server = await MemcachedServer.launch(['-C']);
    const warnings: string[] = [];
    const spy = jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    const store = memcachedStore({ servers: server.address });
    try {
      const key = `nocas${process.pid}:k`;
      await store.set(key, Buffer.from('v'), 10_000);
      expect(await store.compareAndSet!(key, Buffer.from('x'), Buffer.from('w'), 10_000)).toBe(false);
      // Unconditional there: a write landing between the read and the write would be overwritten.
      expect(await store.compareAndSet!(key, Buffer.from('v'), Buffer.from('w'), 10_000)).toBe(false);
      expect(Buffer.from((await store.get(key))!).toString()).toBe('v');
      expect(await store.compareAndDelete!(key, Buffer.from('w'))).toBe(false);
      expect(await store.compareAndDelete!(key, Buffer.from('v'))).toBe(true);
      expect(warnings.filter((w) => w.includes('answers without CAS'))).toHaveLength(1);
    } finally {
      spy.mockRestore();
      await store.disconnect();
      await server.stop();
    }
  });

  it('keeps working past 2^31 requests on one client (memjs alone fails there)', async () => {
    const store = memcachedStore({ servers: servers.memcached[0] });
    stores.push(store);
    const key = `seq${process.pid}:k`;
    await store.set(key, Buffer.from('v'), 10_000);
    internals(store).seq = 2 ** 31 - 3;
    for (let i = 0; i < 6; i++) {
      await store.set(`${key}${i}`, Buffer.from(`v${i}`), 10_000);
      expect(Buffer.from((await store.get(`${key}${i}`))!).toString()).toBe(`v${i}`);
      expect((await store.getMany([key, `${key}${i}`])).map((v) => Buffer.from(v!).toString())).toEqual(['v', `v${i}`]);
    }
    expect(internals(store).seq).toBeGreaterThan(2 ** 31);
    internals(store).seq = 2 ** 32 - 2; // and past 2^32, back to 0
    for (let i = 0; i < 4; i++) expect(Buffer.from((await store.get(key))!).toString()).toBe('v');
    expect(internals(store).seq).toBeLessThan(10);
  });
});

describe.each([
  ['ioredis', (url: string) => redisStore({ url })],
  ['node-redis', (url: string) => nodeRedisStore(url)],
])('batched lookups on redis (%s)', (_client, makeStore) => {
  let server: RedisServer;
  let client: Redis;
  const stores: Array<ReturnType<typeof redisStore>> = [];
  beforeAll(async () => {
    server = await RedisServer.launch();
    client = new Redis(server.url);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.disconnect()));
    await Promise.all(stores.map(closeClientOf));
    client.disconnect();
    await server.stop();
  });
  const commands = async () => {
    const stats = await client.info('commandstats');
    const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    return { get: calls('get'), mget: calls('mget') };
  };
  const allCommands = async () => {
    const stats = await client.info('commandstats');
    return Object.fromEntries(
      [...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].filter(([, n]) => n !== 'config').map(([, n, c]) => [n, +c]),
    );
  };

  it('answers concurrent hits with one MGET that carries the invalidation epoch', async () => {
    const store = makeStore(server.url);
    stores.push(store);
    expect(await store.ready(5_000)).toBe(true);
    const m = new Memoizer(store, { prefix: 'bl' });
    const policy = testPolicy({ ttlMs: 60_000, deps: ['bl:~tag:all'] });
    let runs = 0;
    const keys = Array.from({ length: 100 }, (_, i) => `bl:k:${i}`);
    await Promise.all(keys.map((k, i) => m.getOrSet(k, async () => (runs++, { i }), policy)));
    await drained(m); // writes land
    expect(runs).toBe(100);
    await client.config('RESETSTAT');
    const values = await Promise.all(keys.map((k) => m.getOrSet(k, async () => (runs++, { i: -1 }), policy)));
    expect(values).toEqual(keys.map((_, i) => ({ i })));
    expect(runs).toBe(100);
    expect(await commands()).toEqual({ get: 0, mget: 1 });

    // A lookup never joins a batch already sent: it starts the next one.
    await client.config('RESETSTAT');
    const first = m.getOrSet(keys[0], async () => null, policy);
    await Promise.resolve(); // the first batch is sent in the microtask queued before this continuation
    const second = m.getOrSet(keys[1], async () => null, policy);
    expect([await first, await second]).toEqual([{ i: 0 }, { i: 1 }]);
    expect(await commands()).toEqual({ get: 0, mget: 2 });
  });

  it('a miss whose versions this process already read under the current epoch costs one read and one write', async () => {
    const store = makeStore(server.url);
    stores.push(store);
    expect(await store.ready(5_000)).toBe(true);
    const m = new Memoizer(store, { prefix: 'mp' });
    const policy = testPolicy({ ttlMs: 60_000, deps: ['mp:~tag:all'] });
    let runs = 0;
    await client.config('RESETSTAT');
    expect(await m.getOrSet('mp:k', async () => ++runs, policy)).toBe(1);
    await drained(m); // the write and the touch land
    const first = await allCommands();
    // The entry + the records created by this first computation (SET NX): epoch, tag, key bucket.
    expect(first.set).toBe(4);
    expect(first.pexpire).toBeUndefined(); // records just created start a full lifetime

    // Another process reading records that exist keeps them alive (epoch and tag; the key's bucket
    // is new)...
    const other = new Memoizer(store, { prefix: 'mp' });
    await client.config('RESETSTAT');
    expect(await other.getOrSet('mp:j', async () => 'j', policy)).toBe('j');
    await drained(other);
    expect((await allCommands()).pexpire).toBe(2);

    await client.del('mp:k'); // evicted
    await client.config('RESETSTAT');
    expect(await m.getOrSet('mp:k', async () => ++runs, policy)).toBe(2);
    await drained(m);
    // ...but not on every miss, and tokens read under this epoch are not read again.
    expect(await allCommands()).toEqual({ mget: 1, set: 1 });

    // After an invalidation (a new epoch) they are read again.
    await m.invalidateDeps(['mp:~tag:other']);
    await client.del('mp:k');
    await client.config('RESETSTAT');
    expect(await m.getOrSet('mp:k', async () => ++runs, policy)).toBe(3);
    await drained(m);
    expect((await allCommands()).mget).toBe(2);
  });
});
