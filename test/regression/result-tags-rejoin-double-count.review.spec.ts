import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, InvalidationService, memoryStore, redisStore, type CacheStore } from '../../lib';
import { CacheMemoizeEngine } from '../../lib/nest/cache-memoize.engine';
import { appOn } from '../support/app-on';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * A joiner of an overtaken computation runs again through getOrSet with its own scope
 * ({ ...scope, rejoined: true }): the retry counts and reports a second miss (or a hit after a
 * miss) for the same call — onMiss fires twice per call, stats().misses counts every such call twice.
 */
const servers = sharedServers();
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined;
let onMiss = 0;
let onHit = 0;
type Row = { id: number; org: number };

@Injectable()
class Users {
  @CacheMemoize({
    ttl: '1m',
    resultTags: (u: Row) => [`org:${u.org}`],
    hooks: { onMiss: () => void onMiss++, onHit: () => void onHit++ },
  })
  async byResultTags(id: number): Promise<Row> {
    entered();
    await gate;
    return { id, org: 1 };
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('calls that joined an overtaken computation, on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('rv-count'), [Users]);
    onMiss = onHit = 0;
  });
  afterEach(() => app.close());

  it('10 calls report 10 misses (hooks and stats), not 19', async () => {
    const users = app.get(Users);
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const reading = new Promise<void>((r) => (entered = r));
    const first = users.byResultTags(1);
    await reading;
    entered = () => undefined;
    const joiners = Array.from({ length: 9 }, () => users.byResultTags(1));
    await new Promise((r) => setTimeout(r, 20));
    await app.get(InvalidationService).invalidateTags(['org:1']); // overtakes the computation
    gate = Promise.resolve();
    open();
    await first;
    await Promise.all(joiners);
    const stats = app.get(CacheMemoizeEngine).stats();
    const misses = JSON.stringify(stats).match(/"misses":(\d+)/)?.[1];
    expect({ hooks: onMiss + onHit, misses: Number(misses) }).toEqual({ hooks: 10, misses: 10 });
  });
});
