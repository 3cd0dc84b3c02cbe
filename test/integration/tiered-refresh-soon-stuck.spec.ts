/*
 * Fourth review of 12e0844: a tiered near-expiry hit under a lease waits for one epoch read per key
 * before refreshing; a read that never settled (a store past its own timeouts) held the key, and it
 * was never refreshed again. The read is now bounded by the operation timeout.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memoryStore, redisStore, tieredStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

@Injectable()
class Svc {
  runs = 0;
  @CacheMemoize({ ttl: '1h', refreshAhead: 3_599_990 })
  async plain(id: number): Promise<string> {
    return `${id}#${++this.runs}`;
  }
}
const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

it('an epoch read that never settles does not stop the key’s later refreshes', async () => {
  const l2 = redisStore({ url: servers.redis });
  const app = await appOn(tieredStore(memoryStore(), l2, { bus: true }), uniquePrefix('revd-soon'), [Svc]);
  opened.push(app);
  const svc = app.get(Svc);
  let hang = false;
  const orig = l2.getMany.bind(l2);
  (l2 as { getMany: typeof l2.getMany }).getMany = (keys) => (hang ? new Promise(() => undefined) : orig(keys));
  await svc.plain(1);
  await svc.plain(2);
  await settle(app);
  await sleep(15);
  hang = true;
  await svc.plain(1); // its epoch read is lost
  await sleep(5);
  hang = false; // store healthy again
  for (let i = 0; i < 20; i++) {
    await svc.plain(1);
    await svc.plain(2);
    await sleep(20);
    await settle(app);
  }
  expect(await svc.plain(1)).not.toBe('1#1'); // refreshed once its read was given up
});
