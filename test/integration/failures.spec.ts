import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeErrorCode,
  CacheMemoizeModule,
  CacheMemoizeTimeoutError,
  InvalidateTags,
  InvalidationFailedError,
  InvalidationService,
  StoreFailureError,
  cacheHandle,
  memoryStore,
  redisStore,
  taggedJsonSerializer,
  tieredStore,
  type CacheEvent,
  type CacheStore,
} from '../../lib';
import { decodeEnvelope } from '../../lib/codec/envelope';
import { StallingProxy } from '../support/failures-proxy';
import { RedisServer } from '../support/servers';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/**
 * Adversarial failures, against real servers: a Redis that is full, that refuses PUBLISH, that
 * flaps, that freezes; values and callbacks the cache cannot handle; tag churn on the memory
 * store; shutdown with work under way. Each test fails if the library breaks the rule it names.
 * Time bounds here are bounds on *waiting* (a frozen store must not hold a call), with margins.
 */

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const instanceId = () => randomBytes(4).toString('hex');

// ---------------------------------------------------------------------------------------------
// Harness: everything a test starts is torn down after it, last started first.

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanup.length > 0) {
    try {
      await cleanup.pop()!();
    } catch {
      // best effort: the next resource still gets closed
    }
  }
  jest.restoreAllMocks();
});

/** Every line the library logs during a test (silenced). */
interface Line {
  level: 'error' | 'warn' | 'log';
  text: string;
}
let lines: Line[] = [];
beforeEach(() => {
  lines = [];
  for (const level of ['error', 'warn', 'log'] as const) {
    jest.spyOn(Logger.prototype, level).mockImplementation(((message: unknown) => {
      lines.push({ level, text: String(message) });
    }) as never);
  }
});
const linesWith = (text: string | RegExp, level?: Line['level']) =>
  lines.filter(
    (l) =>
      (level === undefined || l.level === level) &&
      (typeof text === 'string' ? l.text.includes(text) : text.test(l.text)),
  );

interface Instance {
  app: TestingModule;
  events: CacheEvent[];
  inv: InvalidationService;
  close(): Promise<void>;
}

async function boot(
  store: CacheStore,
  providers: Function[],
  prefix: string,
  operationTimeout = 500,
): Promise<Instance> {
  const app = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({ stores: { default: store }, prefix, operationTimeout, connectTimeout: '3s' }),
    ],
    providers: providers as never[],
  }).compile();
  const events: CacheEvent[] = [];
  app.get(CacheMemoizeEngine).events.subscribe((e) => events.push(e));
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= app.close());
  cleanup.push(close);
  await app.init();
  return { app, events, inv: app.get(InvalidationService), close };
}

async function privateRedis(extra: string[] = []): Promise<RedisServer> {
  const server = await RedisServer.launch(extra);
  cleanup.push(() => server.stop());
  return server;
}

function rawClient(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  cleanup.push(() => client.disconnect());
  return client;
}

/** Reads until `done(value)` holds or `ms` passed; returns the last value read. */
async function eventually<T>(
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  ms: number,
  every = 50,
): Promise<T> {
  const end = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < end) {
    await sleep(every);
    value = await read();
  }
  return value;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection, but it resolved');
    },
    (error: unknown) => error,
  );
}

/**
 * Fills a `--maxmemory ... noeviction` Redis until even a tiny write fails with OOM, then keeps a
 * margin: the filling connection's buffers, given back when it closes, must not make room again.
 */
async function fillUntilFull(server: RedisServer): Promise<void> {
  const filler = new Redis(server.url, { maxRetriesPerRequest: 0 });
  filler.on('error', () => undefined);
  try {
    for (const size of [256 * 1024, 16 * 1024, 1024, 64]) {
      const value = 'x'.repeat(size);
      for (let i = 0; i < 100_000; i++) {
        try {
          await filler.set(`fill:${size}:${i}`, value);
        } catch (error) {
          if (/OOM/.test(String(error))) break;
          throw error;
        }
      }
    }
    await filler.quit();
  } finally {
    filler.disconnect();
  }
  await sleep(100);
  const used = Number(/used_memory:(\d+)/.exec(server.cli('INFO', 'memory'))![1]);
  server.cli('CONFIG', 'SET', 'maxmemory', String(used - 256 * 1024));
  expect(server.cli('SET', 'probe', 'x')).toMatch(/OOM/);
}

// ---------------------------------------------------------------------------------------------
// Services

@Injectable()
class ItemService {
  readonly by = instanceId();
  runs = 0;
  @CacheMemoize({ ttl: '10m', tags: (id: number) => [`item:${id}`] })
  async get(id: number): Promise<{ id: number; by: string; run: number }> {
    return { id, by: this.by, run: ++this.runs };
  }
}

@Injectable()
class ItemWriter {
  last: unknown;
  @InvalidateTags((id: number) => [`item:${id}`])
  async rename(id: number): Promise<{ renamed: number }> {
    return (this.last = { renamed: id });
  }

  @InvalidateTags((id: number) => [`item:${id}`], { onFailure: 'log' })
  async renameQuietly(id: number): Promise<{ renamedQuietly: number }> {
    return (this.last = { renamedQuietly: id });
  }
}

// ---------------------------------------------------------------------------------------------

describe('1. invalidation on a full Redis (maxmemory 2mb, noeviction)', () => {
  it('rejects with StoreFailureError; the same instance stops serving the tag at once and retries; once memory is freed the retry lands and a second instance follows', async () => {
    const server = await privateRedis(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
    const prefix = uniquePrefix('full');
    const a = await boot(redisStore({ url: server.url }), [ItemService], prefix);
    const b = await boot(redisStore({ url: server.url }), [ItemService], prefix);
    const [sa, sb] = [a.app.get(ItemService), b.app.get(ItemService)];

    const old = await sa.get(1);
    await settle(a.app); // A's write lands
    expect(await sb.get(1)).toEqual(old); // B serves A's entry from Redis
    expect(sb.runs).toBe(0);

    await fillUntilFull(server);
    const failure = await rejection(a.inv.invalidateTags(['item:1']));
    expect(failure).toBeInstanceOf(StoreFailureError);
    expect(failure).toMatchObject({
      code: CacheMemoizeErrorCode.StoreFailure,
      store: 'default',
      operation: expect.any(String),
    });

    // This instance serves none of the affected entries from now on: every call recomputes.
    const runsBefore = sa.runs;
    const first = await sa.get(1);
    await settle(a.app);
    const second = await sa.get(1);
    expect(sa.runs).toBe(runsBefore + 2);
    expect(first).not.toEqual(old);
    expect(second).not.toEqual(old);

    // It keeps trying in the background while the store refuses writes (each attempt fails again).
    const errors = () => a.events.filter((e) => e.type === 'error').length;
    const errorsSoFar = errors();
    expect(await eventually(errors, (n) => n > errorsSoFar, 5_000)).toBeGreaterThan(errorsSoFar);

    // Memory is freed: the retry succeeds, and B (which shares the store) stops serving the old value.
    server.cli('CONFIG', 'SET', 'maxmemory', '0');
    const seenByB = await eventually(
      () => sb.get(1),
      (v) => v.by !== old.by || v.run !== old.run,
      10_000,
      100,
    );
    expect(seenByB).not.toEqual(old);

    // And A caches that entry again once its invalidation is durable.
    const cachedAgain = await eventually(
      async () => {
        const x = await sa.get(1);
        await settle(a.app);
        const y = await sa.get(1);
        return JSON.stringify(x) === JSON.stringify(y);
      },
      (same) => same,
      5_000,
      100,
    );
    expect(cachedAgain).toBe(true);
  }, 30_000);

  it("@InvalidateTags rejects with InvalidationFailedError carrying the method's result, or only logs with onFailure: 'log'", async () => {
    const server = await privateRedis(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
    const a = await boot(redisStore({ url: server.url }), [ItemService, ItemWriter], uniquePrefix('fullevict'));
    const svc = a.app.get(ItemService);
    const writer = a.app.get(ItemWriter);
    await svc.get(2);
    await settle(a.app);
    const runs = svc.runs;
    expect((await svc.get(2)).run).toBe(runs); // cached
    await fillUntilFull(server);

    const failure = await rejection(writer.rename(2));
    expect(failure).toBeInstanceOf(InvalidationFailedError);
    expect(failure).toMatchObject({
      code: CacheMemoizeErrorCode.InvalidationFailed,
      owner: 'ItemWriter.rename',
      completed: true,
    });
    expect((failure as InvalidationFailedError).result).toBe(writer.last);
    expect((failure as InvalidationFailedError).result).toEqual({ renamed: 2 });
    // The tag counts as invalidated here: the old entry is not served.
    await svc.get(2);
    expect(svc.runs).toBe(runs + 1);

    await expect(writer.renameQuietly(3)).resolves.toEqual({ renamedQuietly: 3 });
    expect(linesWith('ItemWriter.renameQuietly', 'error')).toHaveLength(1);
  }, 20_000);
});

// ---------------------------------------------------------------------------------------------

describe('2. tiered store whose invalidation bus cannot publish', () => {
  /** An app on a tiered store whose Redis user may do anything but PUBLISH (so the bus cannot announce). */
  async function bootWithoutPublish(): Promise<{ a: Instance; svc: ItemService }> {
    const server = await privateRedis();
    server.cli('ACL', 'SETUSER', 'nopub', 'on', '>secret', '~*', '&*', '+@all', '-publish');
    const store = tieredStore(memoryStore(), redisStore({ url: `redis://nopub:secret@127.0.0.1:${server.port}` }));
    const a = await boot(store, [ItemService, ItemWriter], uniquePrefix('nopub'));
    const svc = a.app.get(ItemService);
    await svc.get(1);
    await settle(a.app);
    return { a, svc };
  }

  it('rejects every kind of invalidation when the bus PUBLISH is refused (ACL user without +publish)', async () => {
    const { a, svc } = await bootWithoutPublish();
    for (const invalidation of [
      () => a.inv.invalidateTags(['item:1']),
      () => a.inv.invalidateKeys([cacheHandle(svc, 'get').keyOf(1)]),
      () => a.inv.invalidateNamespace('ItemService'),
      () => a.inv.clear(),
    ]) {
      const failure = await rejection(invalidation());
      expect(failure).toBeInstanceOf(StoreFailureError);
      expect(failure).toMatchObject({ code: CacheMemoizeErrorCode.StoreFailure });
    }
    const writer = a.app.get(ItemWriter);
    const failure = await rejection(writer.rename(1));
    expect(failure).toBeInstanceOf(InvalidationFailedError);
    expect(failure).toMatchObject({ owner: 'ItemWriter.rename', completed: true, result: { renamed: 1 } });
  });

  it('the StoreFailureError of a refused PUBLISH names the store and the operation', async () => {
    const { a } = await bootWithoutPublish();
    const failure = await rejection(a.inv.invalidateTags(['item:1']));
    expect(failure).toBeInstanceOf(StoreFailureError);
    expect(failure).toMatchObject({
      code: CacheMemoizeErrorCode.StoreFailure,
      store: 'default',
      operation: expect.any(String),
    });
  });

  it('rejects when the Redis behind it is gone', async () => {
    const server = await privateRedis();
    const a = await boot(
      tieredStore(memoryStore(), redisStore({ url: server.url })),
      [ItemService],
      uniquePrefix('tiergone'),
    );
    await a.app.get(ItemService).get(1);
    await settle(a.app);
    await server.kill();
    const failure = await rejection(a.inv.invalidateTags(['item:1']));
    expect(failure).toBeInstanceOf(StoreFailureError);
    expect(failure).toMatchObject({ code: CacheMemoizeErrorCode.StoreFailure, store: 'default' });
  });
});

// ---------------------------------------------------------------------------------------------

@Injectable()
class FlapService {
  runs = 0;
  @CacheMemoize({ ttl: '10m' })
  async get(id: number): Promise<number> {
    this.runs++;
    return id;
  }
}

describe('3. circuit breaker logging on a flapping Redis', () => {
  /** The recovery line (the outage line itself says "until it answers again"). */
  const RECOVERED = /answers again after/;
  it('logs one "is failing" line for an outage of several kill/restart flaps, and one recovery line once it is steady', async () => {
    const server = await privateRedis();
    const store = redisStore({ url: server.url });
    const a = await boot(store, [FlapService], uniquePrefix('flap'));
    const svc = a.app.get(FlapService);
    const circuit = (state: 'open' | 'closed') =>
      a.events.filter((e) => e.type === 'circuit' && e.state === state).length;
    let id = 0;

    const FLAPS = 3;
    for (let flap = 1; flap <= FLAPS; flap++) {
      await server.kill();
      expect(
        await eventually(
          () => svc.get(++id).then(() => circuit('open')),
          (n) => n >= flap,
          5_000,
        ),
      ).toBe(flap);
      await server.start();
      await eventually(
        () => store.client.status,
        (s) => s === 'ready',
        5_000,
      );
      expect(
        await eventually(
          () => svc.get(++id).then(() => circuit('closed')),
          (n) => n >= flap,
          15_000,
          100,
        ),
      ).toBe(flap);
    }
    // Several opens and closes within a few seconds: one outage, reported once, not yet over.
    expect(linesWith('is failing')).toHaveLength(1);
    expect(linesWith('is failing')[0].level).toBe('error');
    expect(linesWith(RECOVERED)).toHaveLength(0);

    // Steady again: the end of the outage is reported once.
    await eventually(
      () => svc.get(++id).then(() => linesWith(RECOVERED).length),
      (n) => n > 0,
      20_000,
      250,
    );
    expect(linesWith(RECOVERED)).toHaveLength(1);
    expect(linesWith('is failing')).toHaveLength(1);
  }, 50_000);
});

// ---------------------------------------------------------------------------------------------

const METHOD_MS = 50;

@Injectable()
class TimedService {
  runs = 0;
  /** Method runs started (`runs` counts them as they finish). */
  starts = 0;
  /** Held by the next run of `get` only, until it resolves. */
  hold: Promise<void> | undefined;
  @CacheMemoize({ ttl: '10m', tags: (id: number) => [`timed:${id}`] })
  async get(id: number): Promise<{ id: number; run: number }> {
    this.starts++;
    const hold = this.hold;
    this.hold = undefined;
    await (hold ?? sleep(METHOD_MS));
    return { id, run: ++this.runs };
  }

  @CacheMemoize({ ttl: '10m', lock: true, tags: (id: number) => [`timed:${id}`] })
  async locked(id: number): Promise<{ id: number; run: number }> {
    this.starts++;
    await sleep(METHOD_MS);
    return { id, run: ++this.runs };
  }
}

/**
 * A connection of its own to a server about to be paused: `state` turns 'answered' once the paused server
 * answers again. A call that settles while it is 'paused' did not wait for the pause.
 */
async function pauseWatch(
  url: string,
): Promise<{ start(): void; readonly state: 'paused' | 'answered' | 'probe failed' }> {
  const probe = rawClient(url);
  await probe.ping(); // connected (and past ioredis' ready check) before the pause
  let state: 'paused' | 'answered' | 'probe failed' = 'paused';
  return {
    // A probe that fails says nothing about the pause: the check then fails rather than pass.
    start: () =>
      void probe.ping().then(
        () => (state = 'answered'),
        () => (state = 'probe failed'),
      ),
    get state() {
      return state;
    },
  };
}

/**
 * Moves the library's clock (performance.now(), which measures each call's store-time budget)
 * forward by `ms` when `jump()` is called: time spent as a slow reply would spend it, without
 * depending on how fast this machine is.
 */
function clockJump(ms: number): { jump(): void } {
  const real = performance.now.bind(performance);
  let skew = 0;
  const spy = jest.spyOn(performance, 'now').mockImplementation(() => real() + skew);
  cleanup.push(() => spy.mockRestore());
  return { jump: () => (skew = ms) };
}

/** Caches `id`, then moves the epoch (an unrelated invalidation): its entry is now checked by versions. */
async function entryUnderOlderEpoch(a: Instance, svc: TimedService, id: number): Promise<void> {
  await svc.get(id);
  await settle(a.app);
  await a.inv.invalidateTags([`unrelated:${id}`]);
  const runs = svc.runs;
  expect(await svc.get(id)).toEqual({ id, run: runs }); // still a hit, through the version check
  expect(svc.runs).toBe(runs);
  await settle(a.app); // nothing in flight on the connection
}

describe('4. bounded store time per call (operationTimeout 500 ms)', () => {
  // A call on a paused server spends its budget (500 ms), then runs the method: it settles while
  // the pause (1,500 ms or more) is still on. Checked by order, against the server answering again.

  it('frozen Redis behind a tiered store, an L1 copy and no bus lease: its check spends the budget, then the method runs', async () => {
    const server = await privateRedis();
    const a = await boot(
      tieredStore(memoryStore(), redisStore({ url: server.url })),
      [TimedService],
      uniquePrefix('tpause'),
    );
    const svc = a.app.get(TimedService);
    await svc.get(1); // in L1, leased
    await settle(a.app);
    const pause = await pauseWatch(server.url);
    server.cli('CLIENT', 'PAUSE', '2800', 'ALL');
    pause.start();
    await sleep(1_300); // no ping answered: the lease has run out, L1 copies need L2's epoch
    expect(await svc.get(1)).toEqual({ id: 1, run: svc.runs });
    expect(svc.runs).toBe(2);
    expect(pause.state).toBe('paused');
  });

  it('frozen Redis (CLIENT PAUSE 1500 ALL): a cold call returns the method result without waiting for the pause', async () => {
    const server = await privateRedis();
    const a = await boot(redisStore({ url: server.url }), [TimedService], uniquePrefix('pause'));
    const svc = a.app.get(TimedService);
    await svc.get(100); // connected, epoch and records exist
    await settle(a.app);
    const pause = await pauseWatch(server.url);
    server.cli('CLIENT', 'PAUSE', '1500', 'ALL');
    pause.start();
    expect(await svc.get(1)).toEqual({ id: 1, run: svc.runs });
    expect(pause.state).toBe('paused');
  });

  it('frozen Redis (CLIENT PAUSE 1500 ALL): an entry written under an older epoch does not double the wait', async () => {
    const server = await privateRedis();
    const a = await boot(redisStore({ url: server.url }), [TimedService], uniquePrefix('pauseepoch'));
    const svc = a.app.get(TimedService);
    await entryUnderOlderEpoch(a, svc, 1);
    const pause = await pauseWatch(server.url);
    server.cli('CLIENT', 'PAUSE', '1500', 'ALL');
    pause.start();
    expect(await svc.get(1)).toEqual({ id: 1, run: svc.runs });
    expect(pause.state).toBe('paused');
  });

  it("frozen Redis whose client's own commandTimeout (5 s) is longer than the budget: still bounded by operationTimeout", async () => {
    const server = await privateRedis();
    const a = await boot(
      redisStore({ url: server.url, commandTimeout: '5s' }),
      [TimedService],
      uniquePrefix('pauselong'),
    );
    const svc = a.app.get(TimedService);
    await svc.get(100);
    await settle(a.app);
    const pause = await pauseWatch(server.url);
    server.cli('CLIENT', 'PAUSE', '1500', 'ALL');
    pause.start();
    expect(await svc.get(1)).toEqual({ id: 1, run: svc.runs });
    expect(pause.state).toBe('paused');
  });

  describe('lookup answered slowly, then silence: the next round trip gets only what is left of the budget', () => {
    // The lookup's answer comes as the whole budget (5 s here; the client's own timeout is longer)
    // has been spent: the library's clock is moved on by 5 s as it arrives. The next round trip then has nothing left, and the method
    // runs at once; a fresh timeout would wait for the silence (2.5 s) to end. Checked by order.
    const BUDGET_MS = 5_000;
    let proxy: StallingProxy;
    let server: RedisServer;
    beforeEach(async () => {
      server = await privateRedis();
      proxy = await StallingProxy.start(server.port);
      cleanup.push(() => proxy.close());
    });

    it('expireIn of an invalidated entry whose version check runs out of budget rejects and rewrites nothing', async () => {
      // Lookup answered at 400 ms, its version check cut at 500 ms; a read sent after that would be
      // answered at 700 ms, within its own timeout: expire must not retime what it could not judge.
      const a = await boot(redisStore({ url: proxy.url }), [TimedService], uniquePrefix('slowexpire'));
      const svc = a.app.get(TimedService);
      await svc.get(1);
      await settle(a.app);
      await a.inv.invalidateTags(['timed:1']);
      const key = cacheHandle(svc, 'get').keyOf(1);
      const raw = rawClient(server.url);
      const before = await raw.pttl(key);
      expect(before).toBeGreaterThan(0);
      proxy.stall(400, 700);
      const failure = await rejection(cacheHandle(svc, 'get').expireIn('1h', 1));
      expect(failure).toBeInstanceOf(StoreFailureError);
      expect(failure).toMatchObject({ operation: 'expire', store: 'default' });
      await sleep(500); // past the held replies: a late rewrite would have landed
      proxy.release();
      expect(await raw.pttl(key)).toBeLessThanOrEqual(before);
      const runs = svc.runs;
      expect(await svc.get(1)).toEqual({ id: 1, run: runs + 1 }); // still invalid: recomputed
    });

    it('version check of an entry written under an older epoch', async () => {
      const a = await boot(
        redisStore({ url: proxy.url, commandTimeout: '10s' }),
        [TimedService],
        uniquePrefix('slowcheck'),
        BUDGET_MS,
      );
      const svc = a.app.get(TimedService);
      await entryUnderOlderEpoch(a, svc, 1);
      const clock = clockJump(BUDGET_MS);
      proxy.stall(400, 2_500, clock.jump);
      expect(await svc.get(1)).toEqual({ id: 1, run: svc.runs });
      expect(proxy.holding).toBe(true);
      proxy.release();
    });

    it('joining a computation under way after an unrelated invalidation: its version check', async () => {
      // The lookup reads a newer epoch than the computation's: its versions are checked before
      // joining. Unanswered, the call runs the method itself, within what is left of the budget.
      const a = await boot(
        redisStore({ url: proxy.url, commandTimeout: '10s' }),
        [TimedService],
        uniquePrefix('slowjoin'),
        BUDGET_MS,
      );
      const svc = a.app.get(TimedService);
      await svc.get(100);
      await settle(a.app);
      let open!: () => void;
      svc.hold = new Promise<void>((r) => (open = r));
      const first = svc.get(1);
      while (svc.starts < 2) await sleep(5);
      await a.inv.invalidateTags(['unrelated:1']);
      const clock = clockJump(BUDGET_MS);
      proxy.stall(400, 2_500, clock.jump);
      const own = await svc.get(1);
      const heldWhenSettled = proxy.holding;
      proxy.release();
      open();
      expect(await first).toEqual({ id: 1, run: svc.runs });
      expect(own).toEqual({ id: 1, run: svc.runs - 1 });
      expect(heldWhenSettled).toBe(true);
    });

    it('lock: true — taking the lock and the snapshot spend only what is left of the budget', async () => {
      const a = await boot(
        redisStore({ url: proxy.url, commandTimeout: '10s' }),
        [TimedService],
        uniquePrefix('slowlock'),
        BUDGET_MS,
      );
      const svc = a.app.get(TimedService);
      await svc.locked(100);
      await settle(a.app);
      const clock = clockJump(BUDGET_MS);
      proxy.stall(400, 3_000, clock.jump);
      expect(await svc.locked(1)).toEqual({ id: 1, run: svc.runs });
      expect(proxy.holding).toBe(true);
      proxy.release();
    });

    it('snapshot of a miss (the versions read before the method runs)', async () => {
      const a = await boot(
        redisStore({ url: proxy.url, commandTimeout: '10s' }),
        [TimedService],
        uniquePrefix('slowsnap'),
        BUDGET_MS,
      );
      const svc = a.app.get(TimedService);
      await svc.get(100);
      await settle(a.app);
      const clock = clockJump(BUDGET_MS);
      proxy.stall(400, 2_500, clock.jump);
      expect(await svc.get(1)).toEqual({ id: 1, run: svc.runs });
      expect(proxy.holding).toBe(true);
      proxy.release();
    });
  });
});

// ---------------------------------------------------------------------------------------------

const DEPTH = 5_000;
function nested(depth: number): Record<string, unknown> {
  let node: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < depth; i++) node = { d: node };
  return node;
}
const deepArgument = nested(DEPTH);

@Injectable()
class SelfService {
  runs = 0;
  returned: unknown[] = [];

  @CacheMemoize({ ttl: '10m' })
  async deepArgument(arg: unknown): Promise<{ run: number }> {
    void arg;
    return this.give({ run: this.runs + 1 });
  }

  @CacheMemoize({
    ttl: '10m',
    tags: (id: number): string[] => {
      throw new Error(`tags callback failed for ${id}`);
    },
  })
  async throwingTags(id: number): Promise<{ id: number; run: number }> {
    return this.give({ id, run: this.runs + 1 });
  }

  @CacheMemoize({
    ttl: '10m',
    key: (id: number): unknown => {
      throw new Error(`key callback failed for ${id}`);
    },
  })
  async throwingKey(id: number): Promise<{ id: number; run: number }> {
    return this.give({ id, run: this.runs + 1 });
  }

  @CacheMemoize({ ttl: '10m' })
  async deepResult(id: number): Promise<{ id: number; run: number; tree: unknown }> {
    return this.give({ id, run: this.runs + 1, tree: nested(DEPTH) });
  }

  @CacheMemoize({ ttl: '10m' })
  async functionResult(id: number): Promise<{ id: number; run: number; format: () => string }> {
    return this.give({ id, run: this.runs + 1, format: () => `#${id}` });
  }

  private give<T>(value: T): T {
    this.runs++;
    this.returned.push(value);
    return value;
  }
}

const selfCases: Array<[string, string, (svc: SelfService) => Promise<unknown>]> = [
  ['a 5,000-level nested argument', 'SelfService.deepArgument', (svc) => svc.deepArgument(deepArgument)],
  ['a tags callback that throws', 'SelfService.throwingTags', (svc) => svc.throwingTags(1)],
  ['a key callback that throws', 'SelfService.throwingKey', (svc) => svc.throwingKey(1)],
  ['a result nested 5,000 levels deep', 'SelfService.deepResult', (svc) => svc.deepResult(1)],
  ['a result holding a function', 'SelfService.functionResult', (svc) => svc.functionResult(1)],
];

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as const)('5. what the cache computes for itself never fails the call (%s)', (storeName, makeStore) => {
  it.each(selfCases)(
    '%s: every call returns the method’s own result; at most one warning, exactly one if it ran uncached',
    async (_case, owner, call) => {
      const a = await boot(makeStore(), [SelfService], uniquePrefix(`self${storeName}`));
      const svc = a.app.get(SelfService);
      const CALLS = 4;
      for (let i = 0; i < CALLS; i++) {
        const runs = svc.runs;
        const result = await call(svc);
        const last = svc.returned[svc.returned.length - 1];
        if (svc.runs > runs)
          expect(result).toBe(last); // computed: the very value the method returned
        else expect(result).toEqual(last); // a hit: the value it returned before
        await settle(a.app); // background writes (and their failures) land between calls
      }
      await settle(a.app);
      const warnings = linesWith(owner, 'warn').map((l) => l.text);
      if (svc.runs === CALLS)
        expect(warnings).toHaveLength(1); // ran uncached every time: told once
      else expect(warnings.length).toBeLessThanOrEqual(1); // cached: nothing to tell, or told once
      expect(linesWith(/./, 'error')).toEqual([]);
    },
  );
});

// ---------------------------------------------------------------------------------------------

@Injectable()
class KeepService {
  runs = 0;
  @CacheMemoize({ ttl: '10m', tags: (i: number) => [`keep:${i}`] })
  async get(i: number): Promise<{ i: number; run: number }> {
    return { i, run: ++this.runs };
  }
}

describe('6. memory store under tag churn', () => {
  it('after 30,001 distinct other tags are invalidated, 100 tagged entries still hit, and keep:5 still busts exactly one', async () => {
    const a = await boot(memoryStore({ maxEntries: 10_000 }), [KeepService], uniquePrefix('churn'));
    const svc = a.app.get(KeepService);
    for (let i = 0; i < 100; i++) await svc.get(i);
    expect(svc.runs).toBe(100);

    for (let i = 0; i <= 30_000; i++) await a.inv.invalidateTags([`churn:${i}`]);

    for (let i = 0; i < 100; i++) expect(await svc.get(i)).toEqual({ i, run: i + 1 });
    expect(svc.runs).toBe(100);

    await a.inv.invalidateTags(['keep:5']);
    expect(await svc.get(5)).toEqual({ i: 5, run: 101 });
    for (let i = 0; i < 100; i++) if (i !== 5) expect(await svc.get(i)).toEqual({ i, run: i + 1 });
    expect(svc.runs).toBe(101);
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------

type Val = { id: number; by: string; run: number };

@Injectable()
class ShutdownService {
  readonly by = instanceId();
  runs = 0;
  graceDelayMs = 0;
  tooSlowDelayMs = 0;
  finishedSlow = 0;
  readonly last = new Map<string, Val>();

  @CacheMemoize({ ttl: '10m' })
  async plain(id: number): Promise<Val> {
    return this.give('plain', id);
  }

  @CacheMemoize({ ttl: '10m', resultTags: (r: Val) => [`owner:${r.id}`] })
  async tagged(id: number): Promise<Val> {
    return this.give('tagged', id);
  }

  @CacheMemoize({ ttl: 300, grace: '10m' })
  async graceful(id: number): Promise<Val> {
    await sleep(this.graceDelayMs);
    return this.give('graceful', id);
  }

  @CacheMemoize({ ttl: 300, grace: '10m' })
  async tooSlow(id: number): Promise<Val> {
    const delay = this.tooSlowDelayMs;
    await sleep(delay);
    if (delay > 0) this.finishedSlow++;
    return this.give('tooSlow', id);
  }

  @CacheMemoize({ ttl: '10m', timeout: { hard: 30 } })
  async overdue(id: number): Promise<Val> {
    await sleep(300);
    return this.give('overdue', id);
  }

  private give(method: string, id: number): Val {
    const value = { id, by: this.by, run: ++this.runs };
    this.last.set(`${method}:${id}`, value);
    return value;
  }
}

describe('7. shutdown with writes and refreshes under way (Redis)', () => {
  const storeErrors = () => lines.filter((l) => l.level === 'error' || /fail/i.test(l.text));

  it('close() lands pending writes and grace refreshes, closes its clients, logs no store failure; a second app reads what the first wrote', async () => {
    const prefix = uniquePrefix('shutdown');
    const store = redisStore({ url: servers.redis });
    const a = await boot(store, [ShutdownService], prefix);
    const sa = a.app.get(ShutdownService);
    const IDS = [1, 2, 3, 4, 5, 6, 7, 8];

    // Entries that will be stale (ttl 300 ms, grace 10 min) when the app closes.
    await Promise.all(IDS.slice(0, 3).map((id) => sa.graceful(id)));
    await Promise.all(IDS.slice(0, 4).map((id) => sa.tooSlow(id)));
    await sleep(400);
    sa.graceDelayMs = 150; // refreshes that land within the shutdown bound
    sa.tooSlowDelayMs = 1_500; // refreshes that outlast it

    const cachedGraceful = IDS.slice(0, 3).map((id) => sa.last.get(`graceful:${id}`));
    const written = await Promise.all([...IDS.map((id) => sa.plain(id)), ...IDS.map((id) => sa.tagged(id))]);
    const staleServed = await Promise.all(IDS.slice(0, 3).map((id) => sa.graceful(id)));
    await Promise.all(IDS.slice(0, 4).map((id) => sa.tooSlow(id)));
    expect(staleServed).toEqual(cachedGraceful); // stale served at once, refreshes under way

    await a.close(); // writes and refreshes are still under way here
    expect(store.client.status).toBe('end');

    // The refreshes that outlasted the bound finish after the store closed: still no false alarm.
    await eventually(
      () => sa.finishedSlow,
      (n) => n === 4,
      5_000,
    );
    await sleep(200);
    expect(storeErrors()).toEqual([]);

    const b = await boot(redisStore({ url: servers.redis }), [ShutdownService], prefix);
    const sb = b.app.get(ShutdownService);
    for (const [i, id] of IDS.entries()) {
      expect(await sb.plain(id)).toEqual(written[i]);
      expect(await sb.tagged(id)).toEqual(written[IDS.length + i]);
    }
    const engine = b.app.get(CacheMemoizeEngine);
    for (const id of IDS.slice(0, 3)) {
      const refreshed = sa.last.get(`graceful:${id}`);
      const found = await engine.memoizer().inspect(cacheHandle(sb, 'graceful').keyOf(id));
      expect(found.value).toEqual(refreshed); // the refresh A ran at shutdown was stored
    }
    expect(sb.runs).toBe(0);
    await b.close();
    expect(storeErrors()).toEqual([]);
  }, 20_000);

  it('a computation past its hard timeout when the app closes is still stored, on Redis and in memory', async () => {
    for (const make of [() => redisStore({ url: servers.redis }), () => memoryStore()]) {
      const prefix = uniquePrefix('overdue');
      const store = make();
      const a = await boot(store, [ShutdownService], prefix);
      const sa = a.app.get(ShutdownService);
      const key = cacheHandle(sa, 'overdue').keyOf(1);
      const error = await sa.overdue(1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CacheMemoizeTimeoutError); // the caller stopped waiting at 30 ms
      expect(sa.runs).toBe(0);
      await a.close(); // the computation goes on: close waits for it and its write
      expect(sa.runs).toBe(1);
      expect(a.events).toContainEqual(expect.objectContaining({ type: 'set', key }));
      if (store.kind === 'memory') continue;
      const b = await boot(redisStore({ url: servers.redis }), [ShutdownService], prefix);
      expect(await b.app.get(ShutdownService).overdue(1)).toEqual(sa.last.get('overdue:1'));
      expect(b.app.get(ShutdownService).runs).toBe(0);
      await b.close();
    }
    expect(storeErrors()).toEqual([]);
  });

  it('close() on the memory store waits for a grace refresh under way', async () => {
    const a = await boot(memoryStore(), [ShutdownService], uniquePrefix('memclose'));
    const sa = a.app.get(ShutdownService);
    const first = await sa.graceful(1);
    await sleep(400); // past ttl (300 ms), within grace
    sa.graceDelayMs = 200;
    expect(await sa.graceful(1)).toEqual(first); // stale served at once, the refresh under way
    expect(sa.runs).toBe(1);
    await a.close();
    expect(sa.runs).toBe(2); // the refresh finished before close() resolved
  });

  it('an awaited cacheHandle(...).refresh() has stored its value: a raw read right after sees it', async () => {
    const prefix = uniquePrefix('refresh');
    const a = await boot(redisStore({ url: servers.redis }), [ShutdownService], prefix);
    const sa = a.app.get(ShutdownService);
    const raw = rawClient(servers.redis);
    await raw.ping();
    await sa.plain(7);
    await sa.tagged(7);
    await settle(a.app);

    const plain = cacheHandle(sa, 'plain');
    const tagged = cacheHandle(sa, 'tagged');
    for (let round = 0; round < 3; round++) {
      const p = await plain.refresh(7);
      const stored = await raw.getBuffer(plain.keyOf(7));
      expect(stored).not.toBeNull();
      expect(decodeEnvelope(stored!).value(taggedJsonSerializer)).toEqual(p);

      const t = await tagged.refresh(7);
      const storedTagged = await raw.getBuffer(tagged.keyOf(7));
      expect(storedTagged).not.toBeNull();
      expect(decodeEnvelope(storedTagged!).value(taggedJsonSerializer)).toEqual(t);
    }
    expect(storeErrors()).toEqual([]);
  });
});
