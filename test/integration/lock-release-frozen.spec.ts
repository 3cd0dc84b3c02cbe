/*
 * A `lock` holder whose entry is not written (its computation detached by an invalidation, or the
 * method threw) releases the lock in the background: the caller gets its value (or error) when
 * the method returns, even when the store froze meanwhile. Before, the release was awaited and
 * the call waited out the client's commandTimeout (5 s here) past its operationTimeout budget.
 * Checked by the order of events (as lock-frozen-store.spec does), not by time. Found by review;
 * the locked cases failed before; the unlocked ones are controls.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeModule, InvalidationService, redisStore, type CacheEvent } from '../../lib';
import { RedisServer } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let server: RedisServer;
const log: string[] = [];
let entered: () => void = () => undefined;
let gate: Promise<void> = Promise.resolve();

@Injectable()
class Dashboards {
  @CacheMemoize({ ttl: '1m', lock: true, tags: (id: number) => [`dash:${id}`] })
  async locked(id: number): Promise<string> {
    entered();
    await gate;
    log.push('method returned');
    return `dash-${id}`;
  }

  @CacheMemoize({ ttl: '1m', lock: true })
  async lockedThrows(id: number): Promise<string> {
    entered();
    await gate;
    log.push('method returned');
    throw new Error(`upstream failed for ${id}`);
  }

  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`dash:${id}`] })
  async unlocked(id: number): Promise<string> {
    entered();
    await gate;
    log.push('method returned');
    return `dash-${id}`;
  }
}

describe('lock holder detached by an invalidation, then the store freezes', () => {
  let app: TestingModule;
  beforeAll(async () => {
    server = await RedisServer.launch();
  });
  afterAll(async () => {
    await server.stop();
  });
  afterEach(async () => {
    try {
      server.thaw();
    } catch {
      // running
    }
    await app?.close();
    log.length = 0;
  });

  it.each(['unlocked', 'locked'] as const)(
    '%s: the call returns when the method does (not after the lock release times out)',
    async (method) => {
      app = await Test.createTestingModule({
        imports: [
          CacheMemoizeModule.forRoot({
            stores: { default: redisStore({ url: server.url, commandTimeout: '5s' }) },
            prefix: uniquePrefix('lockrel'),
            onEvent: (e: CacheEvent) => {
              if (e.type === 'error') log.push(`store error: ${(e as { operation?: string }).operation}`);
            },
          }),
        ],
        providers: [Dashboards],
      }).compile();
      await app.init();
      const svc = app.get(Dashboards);
      expect(await svc[method](0)).toBe('dash-0'); // warm
      log.length = 0;
      let open!: () => void;
      gate = new Promise<void>((r) => (open = r));
      const started = new Promise<void>((r) => (entered = r));
      const call = svc[method](1);
      await started;
      // The computation is overtaken: it is detached here, its result will not be stored.
      await app.get(InvalidationService).invalidateTags(['dash:1']);
      server.freeze(); // then the store goes silent
      open();
      const value = await call;
      log.push('call settled');
      server.thaw();
      await sleep(50);
      expect(value).toBe('dash-1');
      const after = log.slice(log.indexOf('method returned'));
      expect(after.slice(0, 2)).toEqual(['method returned', 'call settled']);
    },
    20_000,
  );

  it('locked, the method throws while the store is frozen: the caller gets the error when the method throws', async () => {
    app = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: redisStore({ url: server.url, commandTimeout: '5s' }) },
          prefix: uniquePrefix('lockrel2'),
          onEvent: (e: CacheEvent) => {
            if (e.type === 'error') log.push(`store error: ${(e as { operation?: string }).operation}`);
          },
        }),
      ],
      providers: [Dashboards],
    }).compile();
    await app.init();
    const svc = app.get(Dashboards);
    expect(await svc.locked(0)).toBe('dash-0'); // warm
    log.length = 0;
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const started = new Promise<void>((r) => (entered = r));
    const call = svc.lockedThrows(1).catch((e: Error) => e.message);
    await started; // lock taken, versions read, the method is running
    server.freeze();
    open();
    const outcome = await call;
    log.push('call settled');
    server.thaw();
    expect(outcome).toBe('upstream failed for 1');
    const after = log.slice(log.indexOf('method returned'));
    expect(after.slice(0, 2)).toEqual(['method returned', 'call settled']);
  }, 20_000);
});
