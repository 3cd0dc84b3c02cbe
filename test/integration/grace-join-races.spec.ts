import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * A caller served from grace (`timeout.soft`: it waits a little for the refresh under way) must
 * not be handed that refresh's value when an invalidation overtook it: the stale entry it read is
 * current, the refresh started before the invalidation resolved.
 */
const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const db = new Map<number, { v: number; org: number }>();
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined;
type Row = { id: number; v: number; org: number };

async function read(id: number): Promise<Row> {
  const row = { id, ...(db.get(id) ?? { v: 0, org: 0 }) };
  entered();
  await gate;
  return row;
}

@Injectable()
class Rows {
  @CacheMemoize({ ttl: 40, grace: '1m', timeout: { soft: '5s' }, resultTags: (r: Row) => [`org:${r.org}`] })
  byResultTags(id: number): Promise<Row> {
    return read(id);
  }

  @CacheMemoize({ ttl: 40, grace: '1m', timeout: { soft: '5s' }, tags: (id: number) => [`row:${id}`] })
  byTags(id: number): Promise<Row> {
    return read(id);
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

/** Holds the next computation until `open()`, resolving `reading` once it has read the database. */
function hold(): { reading: Promise<void>; open: () => void } {
  let open!: () => void;
  gate = new Promise((r) => (open = r));
  const reading = new Promise<void>((r) => (entered = r));
  return { reading, open: () => ((entered = () => undefined), open()) };
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
] as Array<[string, () => CacheStore]>)('a grace caller and a refresh overtaken by a result tag, on %s', (_n, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('grace-join'), [Rows]);
  });
  afterEach(() => app.close());

  it('a call started after invalidateTags resolved gets the current stale value, not the overtaken refresh', async () => {
    const rows = app.get(Rows);
    db.set(1, { v: 1, org: 1 });
    expect(await rows.byResultTags(1)).toEqual({ id: 1, v: 1, org: 1 });
    await settle(app);
    await sleep(60); // stale, within grace
    db.set(1, { v: 2, org: 2 }); // the refresh reads a row of org 2
    const held = hold();
    const first = rows.byResultTags(1); // stale: starts the refresh, waits up to 5 s for it
    await held.reading;
    db.set(1, { v: 3, org: 2 });
    await app.get(InvalidationService).invalidateTags(['org:2']); // overtakes the refresh's value
    const late = rows.byResultTags(1); // started after: the entry it reads (org 1) is current
    held.open();
    expect((await first).v).toBeGreaterThan(0); // started before: either answer is allowed
    expect(await late).not.toEqual({ id: 1, v: 2, org: 2 });
    await settle(app);
    expect(await rows.byResultTags(1)).not.toEqual({ id: 1, v: 2, org: 2 });
  });
});

describe.each([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
] as Array<[string, () => CacheStore]>)('two instances: a grace caller and an older refresh, on %s', (_n, make) => {
  let a: TestingModule;
  let b: TestingModule;
  beforeEach(async () => {
    const prefix = uniquePrefix('grace-join2');
    a = await appOn(make(), prefix, [Rows]);
    b = await appOn(make(), prefix, [Rows]);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it('a stale entry written after an invalidation is not replaced, for a caller, by a refresh from before it', async () => {
    db.set(1, { v: 1, org: 0 });
    expect((await a.get(Rows).byTags(1)).v).toBe(1);
    await settle(a);
    await sleep(60);
    db.set(1, { v: 2, org: 0 });
    const held = hold();
    const first = a.get(Rows).byTags(1); // a: stale, its refresh reads v=2 and waits
    await held.reading;
    gate = Promise.resolve(); // the computations after it run at once
    db.set(1, { v: 3, org: 0 });
    await b.get(InvalidationService).invalidateTags(['row:1']); // a's refresh is now older than it
    expect((await b.get(Rows).byTags(1)).v).toBe(3); // b stores v=3
    await settle(b);
    await sleep(60); // b's entry is stale, and current
    const late = a.get(Rows).byTags(1); // a: reads b's entry, a refresh (its own, older) is under way
    held.open();
    expect((await first).v).toBeGreaterThan(0);
    expect((await late).v).toBe(3);
    await settle(a);
  });
});
