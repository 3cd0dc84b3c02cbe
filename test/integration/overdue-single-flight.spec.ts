/*
 * A slow (not stuck) method with grace and timeout.hard stays single-flight: callers are served
 * stale, none times out, so no computation is made overdue and one refresh runs at a time. (A first
 * design made every computation overdue on a timer: 4 refreshes at once; found by review.)
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let slow = false;
let running = 0;
let maxRunning = 0;
let runs = 0;

@Injectable()
class Reports {
  // A slow (not stuck) backend: 700 ms, past the 300 ms hard timeout. Grace serves the stale value meanwhile.
  @CacheMemoize({ ttl: 50, grace: '1m', timeout: { hard: 300 } })
  async report(id: number): Promise<string> {
    runs++;
    running++;
    maxRunning = Math.max(maxRunning, running);
    try {
      if (slow) await sleep(700);
      return `r${id}`;
    } finally {
      running--;
    }
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('grace background refreshes of a slow method on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    slow = false;
    running = maxRunning = runs = 0;
    app = await appOn(make(), uniquePrefix('ovst'), [Reports]);
  });
  afterEach(async () => {
    await sleep(800);
    await settle(app);
    await app.close();
  });

  it('stay single-flight: one refresh of the key at a time', async () => {
    const svc = app.get(Reports);
    expect(await svc.report(1)).toBe('r1');
    await settle(app);
    await sleep(80); // stale, within grace
    slow = true;
    running = maxRunning = runs = 0;
    const got: string[] = [];
    for (let i = 0; i < 70; i++) {
      got.push(await svc.report(1)); // each served stale at once
      await sleep(10);
    }
    expect(got.every((v) => v === 'r1')).toBe(true);
    expect({ maxRunning }).toEqual({ maxRunning: 1 });
    expect(runs).toBeGreaterThan(0); // refreshes did run, one at a time
  });
});
