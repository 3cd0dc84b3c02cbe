/*
 * `lock` and a store that freezes while the holder computes: the holder's caller gets its value
 * when the method returns, as without `lock` — the entry's write and the lock's release (after
 * the write, so waiters keep polling for the entry) happen in the background. Checked by the
 * order of events, not by time: the call settles before the store reports the timed-out write.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeModule, redisStore, type CacheEvent } from '../../lib';
import { RedisServer } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let server: RedisServer;
const log: string[] = [];

@Injectable()
class Dashboards {
  freezeDuring = false;

  private async body(id: number): Promise<string> {
    if (this.freezeDuring) {
      server.freeze(); // the store goes silent while the method runs
      await sleep(50);
    }
    log.push('method returned');
    return `dash-${id}`;
  }

  @CacheMemoize({ ttl: '1m', lock: true })
  async locked(id: number): Promise<string> {
    return this.body(id);
  }

  @CacheMemoize({ ttl: '1m' })
  async unlocked(id: number): Promise<string> {
    return this.body(id);
  }
}

describe('lock: true on a store that freezes during the computation', () => {
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
      // already running
    }
    await app?.close();
    log.length = 0;
  });

  async function boot(): Promise<Dashboards> {
    app = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: redisStore({ url: server.url, commandTimeout: 400 }) },
          prefix: uniquePrefix('lockfz'),
          operationTimeout: '400ms',
          onEvent: (e: CacheEvent) => {
            if (e.type === 'error') log.push(`store error: ${(e as { operation?: string }).operation}`);
          },
        }),
      ],
      providers: [Dashboards],
    }).compile();
    await app.init();
    return app.get(Dashboards);
  }

  it.each(['unlocked', 'locked'] as const)(
    '%s: the call returns when the method does; the write to the frozen store happens in the background',
    async (method) => {
      const svc = await boot();
      expect(await svc[method](0)).toBe('dash-0'); // warm the connection and version records
      log.length = 0;
      svc.freezeDuring = true;
      const value = await svc[method](1);
      log.push('call settled');
      await sleep(1_200); // let the background store calls time out
      server.thaw();
      expect(value).toBe('dash-1');
      // What happened after the method returned, in order.
      const after = log.slice(log.indexOf('method returned'));
      expect(after).toEqual(['method returned', 'call settled', ...after.slice(2)]);
    },
  );
});
