/*
 * `lock` when the call gives up on taking the lock (its store-time budget ran out while the store
 * was slow, or was spent before the lock): the call runs uncached, and the lock record must not
 * outlive it. Before, a lock `add` the store executed after the call stopped waiting for its
 * answer stayed for the lock's whole ttl, and every other instance asking for that key waited
 * `lock.timeout` for a holder that was not computing anything. Checked by the record in Redis and
 * by how a second instance's call takes the lock, never by time.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeModule, redisStore, type CacheEvent, type CacheStore } from '../../lib';
import { StallingProxy } from '../support/failures-proxy';
import { RedisServer } from '../support/servers';
import { settle } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';

@Injectable()
class Reports {
  runs = 0;

  @CacheMemoize({ ttl: '10m', lock: { timeout: '8s', ttl: '60s' } })
  async report(id: number): Promise<{ id: number; run: number }> {
    return { id, run: ++this.runs };
  }
}

let server: RedisServer;
let proxy: StallingProxy;
const apps: TestingModule[] = [];

beforeAll(async () => {
  server = await RedisServer.launch();
  proxy = await StallingProxy.start(server.port);
});
afterAll(async () => {
  await proxy.close();
  await server.stop();
});
afterEach(async () => {
  proxy.release();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function boot(store: CacheStore, prefix: string, events: CacheEvent[] = []): Promise<Reports> {
  const app = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: store },
        prefix,
        operationTimeout: 500,
        onEvent: (e) => void events.push(e),
      }),
    ],
    providers: [Reports],
  }).compile();
  await app.init();
  apps.push(app);
  return app.get(Reports);
}

const lockRecords = (prefix: string) => server.cli('--scan', '--pattern', `${prefix}*~lock*`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('a lock the call gave up on does not outlive the call', () => {
  it.each([
    // The lookup answers within the budget; the lock's answer is held past it.
    ['the add answers after the budget', 400, 1_500],
    // Control: the lookup's answer is held past the whole budget; the call runs uncached and
    // asks for no lock (this passed before too).
    ['the lookup answers after the budget', 900, 0],
  ])('%s: no lock record stays, and another instance takes the lock at once', async (_name, first, silent) => {
    const prefix = uniquePrefix('lockgone');
    const slow = await boot(redisStore({ url: proxy.url, commandTimeout: '3s' }), prefix);
    await slow.report(100); // warm: connection and version records
    await settle(apps[0]);

    proxy.stall(first, silent);
    expect(await slow.report(1)).toEqual({ id: 1, run: 2 }); // ran uncached
    await sleep(Math.max(first, silent) - 300); // every held answer is due by now
    proxy.release();
    await settle(apps[0]);
    expect(lockRecords(prefix)).toBe('');

    const events: CacheEvent[] = [];
    const other = await boot(redisStore({ url: server.url }), prefix, events);
    const value = await other.report(1);
    expect(value.id).toBe(1);
    const outcomes = events.filter((e) => e.type === 'lock').map((e) => (e as { outcome: string }).outcome);
    expect(outcomes).not.toContain('timeout');
  });
});
