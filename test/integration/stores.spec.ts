import Redis, { Cluster } from 'ioredis';
import { memcachedStore, memoryStore, redisStore } from '../../lib';
import { RedisSentinel, RedisServer } from '../support/servers';
import { sharedServers } from '../support/shared-servers';
import { storeConformance } from '../support/store-conformance';

const servers = sharedServers();

storeConformance('memory', { make: () => memoryStore(), ttlGranularityMs: 100, connectAgain: (first) => first });
storeConformance('redis, single node (url)', { make: () => redisStore({ url: servers.redis }), ttlGranularityMs: 100 });
storeConformance('redis, single node (client passed in)', {
  make: () => redisStore({ client: new Redis(servers.redis) }),
  close: (store) => (store as ReturnType<typeof redisStore>).client.disconnect(),
  ttlGranularityMs: 100,
});
storeConformance('redis cluster, 3 masters', { make: () => redisStore({ cluster: servers.cluster }), ttlGranularityMs: 100 });
storeConformance('memcached, one server', { make: () => memcachedStore({ servers: servers.memcached[0] }), ttlGranularityMs: 1000 });
storeConformance('memcached, two servers', { make: () => memcachedStore({ servers: servers.memcached.join(',') }), ttlGranularityMs: 1000 });

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

  it('cluster keys of different slots never raise CROSSSLOT', async () => {
    const cluster = new Cluster(servers.cluster);
    const store = redisStore({ client: cluster });
    expect(await store.ready(5_000)).toBe(true);
    const keys = Array.from({ length: 50 }, (_, i) => `slot${i}:k`);
    await Promise.all(keys.map((k) => store.set(k, new Uint8Array([1]), 10_000)));
    expect((await store.getMany(keys)).every((v) => v !== undefined)).toBe(true);
    expect(await store.deleteMany(keys)).toBe(50);
    cluster.disconnect();
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
      expect(await roundTrip(redisStore({ url: server.url, redisOptions: { username: 'default', password: 's3cret' } }))).toEqual([7]);
      const denied = redisStore({ url: server.url, connectTimeout: 500 });
      expect(await denied.ready(1_000)).toBe(false);
      await expect(denied.get('opt:k')).rejects.toThrow();
      await denied.disconnect();
    } finally {
      await server.stop();
    }
  });

  it('finds the master through Sentinel', async () => {
    const master = await RedisServer.launch();
    const sentinel = await RedisSentinel.launch(master.port);
    try {
      expect(await roundTrip(redisStore({ sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'mymaster' }))).toEqual([7]);
      expect(master.cli('get', 'opt:k')).not.toBe('');
    } finally {
      await sentinel.stop();
      await master.stop();
    }
  });
});
