import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  cacheHandle,
  CacheMemoizeModule,
  memcachedStore,
  redisStore,
  CacheMemoizeEngine,
  StoreFailureError,
  type CacheEvent,
  type CacheStore,
} from '../../lib';
import { closeIoredis5Clients, ioredis5Store } from '../support/ioredis5';
import { closeNodeRedisClients, nodeRedisStore } from '../support/node-redis';
import { freePort, MemcachedServer, RedisServer } from '../support/servers';

/**
 * The cache is an accelerator, never a new way to fail: real servers are killed, frozen and
 * restarted under a running app. "Does not hang" is checked against a generous deadline.
 */
@Injectable()
class SlowService {
  runs = 0;
  @CacheMemoize({ ttl: '1m' })
  async compute(id: number): Promise<string> {
    this.runs++;
    await new Promise((r) => setTimeout(r, 20));
    return `value-${id}`;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function bootWith(store: CacheStore): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: `fs${Date.now()}`, connectTimeout: '1s' }),
    ],
    providers: [SlowService],
  }).compile();
  await app.init();
  return app;
}

/** Resolves with the call's result, or rejects if it took longer than `ms` (a hang). */
async function within<T>(ms: number, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([call, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls until two calls in a row are hits (the run counter stops moving), or gives up. */
async function untilCached(svc: SlowService, id: number, giveUpMs = 15_000): Promise<boolean> {
  const end = Date.now() + giveUpMs;
  while (Date.now() < end) {
    await svc.compute(id);
    await sleep(30);
    const before = svc.runs;
    await svc.compute(id);
    await svc.compute(id);
    if (svc.runs === before) return true;
    await sleep(200);
  }
  return false;
}

type Server = RedisServer | MemcachedServer;

describe.each([
  ['redis (ioredis)', RedisServer, (s: Server) => redisStore({ url: (s as RedisServer).url })],
  // A node-redis client passed in, as an app creates it: offline queue on, no timeout of its own.
  ['redis (node-redis client passed in)', RedisServer, (s: Server) => nodeRedisStore((s as RedisServer).url)],
  [
    'redis (node-redis 5 client passed in)',
    RedisServer,
    (s: Server) => nodeRedisStore((s as RedisServer).url, undefined, 5),
  ],
  ['redis (ioredis 5 client passed in)', RedisServer, (s: Server) => ioredis5Store((s as RedisServer).url)],
  ['memcached', MemcachedServer, (s: Server) => memcachedStore({ servers: (s as MemcachedServer).address })],
] as const)('fail-safe on %s', (_name, Server, makeStore) => {
  let errors: jest.SpyInstance;
  beforeEach(() => {
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await closeNodeRedisClients();
    closeIoredis5Clients();
  });
  const launch = () => Server.launch();

  it('keeps answering while the server is killed, reports the outage once, and caches again after restart', async () => {
    const server = await launch();
    const app = await bootWith(makeStore(server));
    const svc = app.get(SlowService);
    try {
      expect(await untilCached(svc, 1)).toBe(true);

      await server.kill();
      const runsBefore = svc.runs;
      for (let i = 0; i < 30; i++) {
        expect(await within(3_000, svc.compute(1000 + i))).toBe(`value-${1000 + i}`);
      }
      expect(svc.runs - runsBefore).toBe(30); // every call got the method's own result
      const outageReports = errors.mock.calls.filter((c) => String(c[0]).includes('is failing'));
      expect(outageReports).toHaveLength(1);

      await server.start();
      expect(await untilCached(svc, 2)).toBe(true);
    } finally {
      await app.close();
      await server.stop();
    }
  });

  it('expireIn on a server that is down rejects with StoreFailureError instead of reporting no entry', async () => {
    const server = await launch();
    const app = await bootWith(makeStore(server));
    const svc = app.get(SlowService);
    try {
      expect(await untilCached(svc, 3)).toBe(true);
      expect(await within(3_000, cacheHandle(svc, 'compute').expireIn('1h', 3))).toBe(true);
      const key = cacheHandle(svc, 'compute').keyOf(3);
      const reported: CacheEvent[] = [];
      app.get(CacheMemoizeEngine).events.subscribe((e) => e.type === 'error' && e.key === key && reported.push(e));
      await server.kill();
      const failure = await within(3_000, cacheHandle(svc, 'compute').expireIn(0, 3)).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(StoreFailureError);
      expect(reported).toHaveLength(1); // one read failed, reported once (not read again to retime)
      expect(reported[0]).toMatchObject({ owner: 'SlowService.compute' }); // named, as a call's errors are
      reported.length = 0;
      expect(await within(3_000, cacheHandle(svc, 'compute').peek(3))).toBeUndefined();
      expect(reported).toEqual([expect.objectContaining({ owner: 'SlowService.compute' })]);
    } finally {
      await app.close();
      await server.stop();
    }
  });

  it('boots while the server is down, then starts caching once it is up', async () => {
    const port = await freePort();
    const server = new Server(port);
    const app = await within(10_000, bootWith(makeStore(server)));
    const svc = app.get(SlowService);
    try {
      expect(await within(3_000, svc.compute(7))).toBe('value-7');
      expect(await within(3_000, svc.compute(7))).toBe('value-7');
      await server.start();
      expect(await untilCached(svc, 8)).toBe(true);
    } finally {
      await app.close();
      await server.stop();
    }
  });
});

describe.each([
  ['ioredis', (url: string) => redisStore({ url, commandTimeout: 300 })],
  // node-redis alone would wait for a reply forever: the store's adapter bounds each command.
  ['node-redis client passed in', (url: string) => nodeRedisStore(url, 300)],
  ['node-redis 5 client passed in', (url: string) => nodeRedisStore(url, 300, 5)],
])('fail-safe on a frozen redis (SIGSTOP: connected but silent), %s', (_name, makeStore) => {
  afterEach(() => closeNodeRedisClients());

  it('bounds each call by the command timeout, then stops asking', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const server = await RedisServer.launch();
    const app = await bootWith(makeStore(server.url));
    const svc = app.get(SlowService);
    try {
      expect(await untilCached(svc, 1)).toBe(true);
      const circuit: CacheEvent[] = [];
      const timedOut: CacheEvent[] = [];
      app.get(CacheMemoizeEngine).events.subscribe((e) => {
        if (e.type === 'circuit') circuit.push(e);
        if (e.type === 'error') timedOut.push(e);
      });
      server.freeze();
      // 10 calls on a frozen server: each settles (a hang fails `within`), a few pay the timeout,
      // then the circuit opens and the rest do not ask the server at all.
      for (let i = 0; i < 10; i++) expect(await within(3_000, svc.compute(100 + i))).toBe(`value-${100 + i}`);
      expect(circuit).toEqual([expect.objectContaining({ state: 'open' })]);
      expect(timedOut.length).toBeGreaterThan(0);
      expect(timedOut.length).toBeLessThan(10);
      server.thaw();
      expect(await untilCached(svc, 3)).toBe(true);
    } finally {
      await app.close();
      await server.stop();
      jest.restoreAllMocks();
    }
  });

  it('every store command settles (rejects with a timeout) instead of waiting for the frozen server', async () => {
    const server = await RedisServer.launch();
    const store = makeStore(server.url);
    try {
      expect(await store.ready(5_000)).toBe(true);
      await store.set('frozen:k', new Uint8Array([1]), 60_000);
      const bus = store.createBus();
      server.freeze();
      const calls: Array<[string, Promise<unknown>]> = [
        ['get', store.get('frozen:k')],
        ['getMany', store.getMany(['frozen:k', 'frozen:j'])],
        ['set', store.set('frozen:k', new Uint8Array([2]), 60_000)],
        ['add', store.add('frozen:n', new Uint8Array([2]), 60_000)],
        ['delete', store.delete('frozen:k')],
        ['touch', store.touch(['frozen:k'], 60_000)],
        ['compareAndDelete', store.compareAndDelete('frozen:k', new Uint8Array([1]))],
        ['time', store.time()],
        ['publish', bus.publish('frozen:channel', 'x')],
      ];
      const outcomes = await Promise.all(
        calls.map(([name, call]) =>
          within(3_000, call).then(
            () => `${name}: resolved`,
            (error: Error) => `${name}: ${/timed out/i.test(error.message) ? 'timed out' : error.message}`,
          ),
        ),
      );
      expect(outcomes).toEqual(calls.map(([name]) => `${name}: timed out`));
      await bus.close();
    } finally {
      server.thaw();
      await store.disconnect();
      await server.stop();
    }
  });
});
