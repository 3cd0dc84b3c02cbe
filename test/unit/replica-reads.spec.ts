/*
 * An ioredis (or iovalkey) client passed in that reads from replicas is refused when the store is
 * created: replication is asynchronous, so a replica can still hold an entry or a version record an
 * invalidation already changed on the master, and a call after the invalidation could get the old
 * value. The clients are real ones, created without connecting.
 */
import * as ioredis from 'ioredis';
import * as iovalkey from 'iovalkey';
import { InvalidOptionError, redisStore, type CacheStore } from '../../lib';

type Lib = typeof ioredis;
const libs: Array<[string, Lib]> = [
  ['ioredis', ioredis],
  ['iovalkey', iovalkey as unknown as Lib],
];

describe.each(libs)('a %s client passed in', (_name, lib) => {
  const made: Array<{ disconnect(): void }> = [];
  afterEach(() => made.splice(0).forEach((c) => c.disconnect()));
  const cluster = (options: ConstructorParameters<typeof ioredis.Cluster>[1]) => {
    const c = new lib.Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, ...options });
    made.push(c);
    return c;
  };
  const sentinel = (role: 'master' | 'slave') => {
    const c = new lib.Redis({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster', role, lazyConnect: true });
    made.push(c);
    return c;
  };
  const store = (client: unknown): CacheStore => redisStore({ client: client as never });

  it.each([['slave'], ['all'], [() => [] as never]])(
    'a Cluster with scaleReads %p is refused, naming the option',
    (scaleReads) => {
      const client = cluster({ scaleReads: scaleReads as never });
      expect(() => store(client)).toThrow(InvalidOptionError);
      expect(() => store(client)).toThrow(
        /reads from replicas \(scaleReads: .*\).*Pass a Cluster with scaleReads: 'master'/,
      );
    },
  );

  it('a Cluster reading from its masters (the default, or said) is taken', () => {
    expect(store(cluster({})).kind).toBe('redis');
    expect(store(cluster({ scaleReads: 'master' })).kind).toBe('redis');
  });

  it("a Sentinel client with role: 'slave' is refused; role: 'master' is taken", () => {
    expect(() => store(sentinel('slave'))).toThrow(InvalidOptionError);
    expect(() => store(sentinel('slave'))).toThrow("connects to a replica (role: 'slave')");
    expect(store(sentinel('master')).kind).toBe('redis');
  });
});

describe('a client redisStore() creates', () => {
  // Second review: a url store whose redisOptions name Sentinels and role: 'slave' was taken.
  it("from a url with Sentinel redisOptions and role: 'slave' is refused", () => {
    expect(() =>
      redisStore({
        url: 'redis://127.0.0.1:1',
        redisOptions: { sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster', role: 'slave' },
      }),
    ).toThrow(/redisOptions.role: 'slave'/);
  });

  it("from clusterOptions with scaleReads: 'slave' is refused", () => {
    expect(() =>
      redisStore({
        cluster: [{ host: '127.0.0.1', port: 1 }],
        clusterOptions: { scaleReads: 'slave', lazyConnect: true },
      }),
    ).toThrow(
      /Cluster it would create reads from replicas \(clusterOptions.scaleReads: 'slave'\).*Remove clusterOptions.scaleReads/,
    );
  });

  it("from Sentinel redisOptions with role: 'slave' is refused", () => {
    expect(() =>
      redisStore({
        sentinels: [{ host: '127.0.0.1', port: 1 }],
        name: 'mymaster',
        redisOptions: { role: 'slave' },
      }),
    ).toThrow(/client it would create connects to a replica \(redisOptions.role: 'slave'\).*Remove redisOptions.role/);
  });
});
