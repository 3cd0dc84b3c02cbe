/*
 * Store reads a call waits on after its lookup are bounded by operationTimeout as the lookup is:
 * a joiner's check of result tags, the staleIfError fallback's version check, a refresh's epoch
 * read. Before, each waited for the client's own commandTimeout (5 s here) on a frozen Redis.
 * Checked by the order of events: the call settles before the store reports the timed-out read
 * (about 5 s after the freeze); no timing assertion. Found by review; all cases failed before.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeModule, cacheHandle, redisStore, type CacheEvent } from '../../lib';
import { RedisServer } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';
import { until } from '../support/until';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let server: RedisServer;
const log: string[] = [];
let entered: () => void = () => undefined;
let gate: Promise<void> = Promise.resolve();
let fail = false;
let misses = 0;

@Injectable()
class Orders {
  @CacheMemoize({ ttl: '1m', resultTags: (o: { customer: number }) => [`customer:${o.customer}`] })
  async order(id: number): Promise<{ id: number; customer: number }> {
    entered();
    await gate;
    return { id, customer: 7 };
  }

  @CacheMemoize({ ttl: 50, staleIfError: '1m' })
  async price(id: number): Promise<number> {
    entered();
    await gate;
    if (fail) throw new Error('upstream down');
    return id * 10;
  }

  @CacheMemoize({ ttl: '1m' })
  async plain(id: number): Promise<number> {
    return id;
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
});

describe('store time of a call on a frozen Redis (client commandTimeout 5 s, operationTimeout 500 ms)', () => {
  let app: TestingModule;
  beforeAll(async () => {
    server = await RedisServer.launch();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    app = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: redisStore({ url: server.url, commandTimeout: '5s' }) },
          prefix: uniquePrefix('budget'),
          operationTimeout: '500ms',
          onEvent: (e: CacheEvent) => {
            if (e.type === 'error') log.push(`store error: ${(e as { operation?: string }).operation}`);
            if (e.type === 'miss') misses++;
          },
        }),
      ],
      providers: [Orders],
    }).compile();
    await app.init();
    log.length = 0;
    fail = false;
  });
  afterEach(async () => {
    server.thaw();
    await app?.close();
    log.length = 0;
    gate = Promise.resolve();
  });

  function holdNext(): { started: Promise<void>; open: () => void } {
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const started = new Promise<void>((r) => (entered = r));
    return { started, open };
  }

  it('a caller that joined a computation with resultTags', async () => {
    const svc = app.get(Orders);
    await svc.order(0); // warm: connection, epoch, records
    await settle(app);
    log.length = 0;
    misses = 0;
    const held = holdNext();
    const first = svc.order(1);
    await held.started;
    const joiner = svc.order(1); // same epoch: joins
    await until(() => misses === 2, 5_000, "the joiner's lookup to be answered (it joins then)");
    server.freeze();
    held.open();
    const [a, b] = await Promise.all([
      first.then((v) => (log.push('starter settled'), v)),
      joiner.then((v) => (log.push('joiner settled'), v)),
    ]);
    server.thaw();
    expect(a).toEqual({ id: 1, customer: 7 });
    expect(b).toEqual({ id: 1, customer: 7 });
    const firstError = log.findIndex((l) => l.startsWith('store error'));
    const joined = log.indexOf('joiner settled');
    expect({ joinerSettledBeforeStoreTimeout: firstError === -1 || joined < firstError, log }).toEqual({
      joinerSettledBeforeStoreTimeout: true,
      log,
    });
  }, 20_000);

  it('staleIfError: the method fails while the store is frozen', async () => {
    const svc = app.get(Orders);
    expect(await svc.price(1)).toBe(10);
    await settle(app);
    await sleep(80); // past its ttl: a fallback for staleIfError
    const held = holdNext();
    fail = true;
    const call = svc.price(1).then(
      (v) => (log.push('call settled'), v),
      (e: Error) => (log.push('call settled'), e.message),
    );
    await held.started; // the lookup found the fallback, the snapshot was read
    server.freeze();
    held.open(); // the method throws: the fallback is checked against the (frozen) store
    const value = await call;
    server.thaw();
    const firstError = log.findIndex((l) => l.startsWith('store error'));
    expect({ value, settledFirst: firstError === -1 || log.indexOf('call settled') < firstError, log }).toEqual({
      value: expect.anything(),
      settledFirst: true,
      log,
    });
  }, 20_000);

  it('handle.refresh() on a frozen store', async () => {
    const svc = app.get(Orders);
    await svc.plain(1);
    await settle(app);
    log.length = 0;
    server.freeze();
    const v = await cacheHandle(svc, 'plain')
      .refresh(1)
      .then((x) => (log.push('refresh settled'), x));
    server.thaw();
    const firstError = log.findIndex((l) => l.startsWith('store error'));
    expect({ v, settledFirst: firstError === -1 || log.indexOf('refresh settled') < firstError, log }).toEqual({
      v: 1,
      settledFirst: true,
      log,
    });
  }, 20_000);
});
