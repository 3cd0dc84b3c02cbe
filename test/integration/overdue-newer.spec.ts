/*
 * A late caller's hard timeout never un-registers a newer, healthy computation of its key: an
 * invalidation during the newer computation still wins. (A first design released whatever flight
 * the key had; found by review.)
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memoryStore, cacheHandle } from '../../lib';
import { appOn } from '../support/app-on';
import { uniquePrefix } from '../support/shared-servers';

let db = 'old';
const gates: Array<() => void> = [];
let runs = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

@Injectable()
class Rows {
  @CacheMemoize({ ttl: '1m', timeout: { hard: 200 } })
  async row(id: number): Promise<string> {
    runs++;
    const seen = db;
    await new Promise<void>((r) => gates.push(r));
    return `${seen}-${id}`;
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe("a late joiner's hard timeout releases a newer, healthy computation (memory)", () => {
  let app: TestingModule;
  beforeEach(async () => {
    db = 'old';
    runs = 0;
    gates.length = 0;
    app = await appOn(memoryStore(), uniquePrefix('relnew'), [Rows]);
  });
  afterEach(async () => {
    gates.forEach((g) => g());
    await app.close();
  });

  it('an invalidation during the newer computation still wins', async () => {
    const svc = app.get(Rows);
    const a = svc.row(1).catch(() => 'A-timeout'); // F1 at t=0 (stuck)
    await sleep(120);
    const c = svc.row(1).catch(() => 'C-timeout'); // joins F1 at t=120, its hard timer ends at t=320
    await sleep(100); // t=220: F1 overdue (t=200) -> released, A rejected
    expect(await a).toBe('A-timeout');
    const b = svc.row(1); // F2 starts at t=220, healthy
    await sleep(150); // t=370: C's timer (t=320) released the key -> F2 removed from the map
    expect(await c).toBe('C-timeout');
    db = 'new';
    await cacheHandle(svc, 'row').invalidate(1); // resolved while F2 is under way
    gates[1](); // F2 returns (within its own hard timeout) the value it read before the invalidation
    expect(await b).toBe('old-1'); // B started before the invalidation: fine
    const after = svc.row(1);
    await sleep(5);
    gates[2]?.();
    expect({ after: await after, runs }).toEqual({ after: 'new-1', runs: 3 });
  });
});
