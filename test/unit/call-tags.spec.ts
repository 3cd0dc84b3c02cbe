import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  cacheHandle,
  CacheMemoize,
  CacheMemoizeModule,
  cacheContext,
  InvalidationService,
  memoryStore,
  type MemoryStore,
} from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';

/**
 * Argument tags on the memory store are not kept per entry: a hit computes them again for the call
 * and checks them against a sum kept in the entry's row and the names of recent invalidations
 * (see LocalVersions). These tests try to make that serve a value an invalidation removed.
 */

/** The data behind the cache: a version per user, bumped by every write. */
const data = new Map<number, number>();
/** Read by the tags function but not by the key: a tags function that is not a function of its arguments. */
let region = 'eu';

@Injectable()
class Users {
  runs = 0;
  gate: Promise<void> | undefined;

  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`user:${id}`, `group:${id % 5}`] })
  async get(id: number): Promise<string> {
    this.runs++;
    const seen = data.get(id) ?? 0;
    if (this.gate !== undefined) await this.gate;
    return `${id}@${seen}`;
  }

  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`region:${region}`, `user:${id}`] })
  async regional(id: number): Promise<string> {
    this.runs++;
    return `${id}@${region}`;
  }

  @CacheMemoize({ ttl: '1h', resultTags: (v: { org: number }) => [`org:${v.org}`] })
  async member(id: number): Promise<{ id: number; org: number; run: number }> {
    this.runs++;
    cacheContext()?.addTags(`added:${id}`);
    return { id, org: id % 3, run: this.runs };
  }

  @CacheMemoize({ ttl: '1h', tags: (id: number) => Array.from({ length: 6 }, (_, i) => `part:${id}:${i}`) })
  async wide(id: number): Promise<number> {
    this.runs++;
    return id;
  }

  @CacheMemoize({ ttl: '1h' })
  async untagged(id: number): Promise<number> {
    this.runs++;
    return id;
  }
}

let app: TestingModule;
let users: Users;
let store: MemoryStore;
let invalidation: InvalidationService;

beforeEach(async () => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  data.clear();
  region = 'eu';
  store = memoryStore({ maxEntries: 100_000 });
  app = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store } })],
    providers: [Users],
  }).compile();
  await app.init();
  users = app.get(Users);
  invalidation = app.get(InvalidationService);
});

afterEach(async () => {
  await app.close();
});

async function write(id: number): Promise<void> {
  data.set(id, (data.get(id) ?? 0) + 1);
  await invalidation.invalidateTags(Math.random() < 0.5 ? [`user:${id}`] : [`group:${id % 5}`]);
}

describe('argument tags on the memory store', () => {
  it('keep no object per entry: every entry of a method holds the same meta', async () => {
    for (let id = 0; id < 200; id++) await users.get(id);
    const handle = cacheHandle(users, 'get');
    const metas = new Set<unknown>();
    for (let id = 0; id < 200; id++) metas.add(store.metaAt(store.find(handle.keyOf(id))));
    expect(metas.size).toBe(1);
    expect(users.runs).toBe(200);
  });

  it('never serve a value from before a write, in random sequences of reads, writes and unrelated invalidations', async () => {
    let hits = 0;
    for (let round = 0; round < 3_000; round++) {
      const id = Math.floor(Math.random() * 40);
      const roll = Math.random();
      if (roll < 0.2) await write(id);
      else if (roll < 0.3) await invalidation.invalidateTags([`other:${round}`]);
      else {
        const before = users.runs;
        expect(await users.get(id)).toBe(`${id}@${data.get(id) ?? 0}`);
        if (users.runs === before) hits++;
      }
    }
    expect(hits).toBeGreaterThan(500); // unrelated invalidations leave entries hitting
  });

  it('never store a computation that an invalidation of its tags overtook (300 races)', async () => {
    for (let round = 0; round < 300; round++) {
      const id = round % 7;
      let open!: () => void;
      users.gate = new Promise<void>((r) => (open = r));
      const call = users.get(id);
      const ticks = Math.floor(Math.random() * 4);
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      data.set(id, (data.get(id) ?? 0) + 1);
      await invalidation.invalidateTags([round % 2 === 0 ? `user:${id}` : `group:${id % 5}`]);
      open();
      await call; // may carry the old version: it started before the write
      users.gate = undefined;
      expect(await users.get(id)).toBe(`${id}@${data.get(id)}`);
    }
  });

  it('judge an entry by the tags it was computed with, when the tags function gives others later', async () => {
    expect(await users.regional(1)).toBe('1@eu'); // tagged region:eu
    region = 'us';
    await invalidation.invalidateTags(['region:eu']);
    expect(await users.regional(1)).toBe('1@us'); // its own tag invalidated: recomputed, now tagged region:us
    expect(users.runs).toBe(2);
    region = 'eu';
    await invalidation.invalidateTags(['unrelated']);
    expect(await users.regional(1)).toBe('1@us'); // none of its own tags invalidated: a hit
    expect(users.runs).toBe(2);
    await invalidation.invalidateTags(['region:us']); // its own tag, though the call now computes region:eu
    expect(await users.regional(1)).toBe('1@eu');
    expect(users.runs).toBe(3);
    region = 'us';
    for (let i = 0; i < 5_000; i++) await invalidation.invalidateTags([`churn:${i}`]); // past the ring
    await invalidation.invalidateTags(['region:eu']);
    expect(await users.regional(1)).toBe('1@us');
    expect(users.runs).toBe(4);
  });

  it('judge result tags and added tags, kept per entry', async () => {
    const first = await users.member(4); // org 1, added:4
    expect((await users.member(4)).run).toBe(first.run);
    await invalidation.invalidateTags(['org:2']);
    expect((await users.member(4)).run).toBe(first.run);
    await invalidation.invalidateTags(['org:1']);
    const second = await users.member(4);
    expect(second.run).not.toBe(first.run);
    await invalidation.invalidateTags(['added:4']);
    expect((await users.member(4)).run).not.toBe(second.run);
  });

  it('past 65,536 remembered invalidations, recompute older tagged entries rather than guess', async () => {
    for (let id = 0; id < 10; id++) {
      await users.get(id);
      await users.untagged(id);
    }
    const runs = users.runs;
    for (let i = 0; i < 70_000; i += 1_000) {
      await invalidation.invalidateTags(Array.from({ length: 1_000 }, (_, j) => `churn:${i + j}`));
    }
    for (let id = 0; id < 10; id++) {
      expect(await users.get(id)).toBe(`${id}@0`);
      expect(await users.untagged(id)).toBe(id);
    }
    expect(users.runs).toBe(runs + 10); // the tagged ones recomputed, the untagged ones hit
    for (let id = 0; id < 10; id++) await users.get(id);
    expect(users.runs).toBe(runs + 10); // and then hit again
  });

  it('report no entry to expire once its own tag was invalidated (expireIn)', async () => {
    await users.get(3);
    const handle = cacheHandle(users, 'get');
    expect(await handle.expireIn('1m', 3)).toBe(true);
    await invalidation.invalidateTags(['user:3']);
    expect(await handle.expireIn('1m', 3)).toBe(false);
    expect(await handle.peek(3)).toBeUndefined();
  });

  it('keep by name the tags of an entry with many, so unrelated invalidations never cost it', async () => {
    await users.wide(1);
    for (let i = 0; i < 200; i++) await invalidation.invalidateTags([`unrelated:${i}`]);
    expect(await users.wide(1)).toBe(1);
    expect(users.runs).toBe(1);
    await invalidation.invalidateTags(['part:1:5']);
    expect(await users.wide(1)).toBe(1);
    expect(users.runs).toBe(2);
  });
});

describe('tags not computed from the key (request tags, tags given with a value)', () => {
  it('are kept by name: callers of a shared key with other tags still hit after unrelated invalidations', async () => {
    const m = new Memoizer(memoryStore(), { prefix: 'p' });
    const policy = testPolicy();
    const tags = ['p:~tag:item:1', 'p:~tag:item:2'];
    let runs = 0;
    const compute = async () => ++runs;
    await m.getOrSet('p:list', compute, policy, { deps: [...tags, 'p:~tag:viewer:alice'] });
    for (let i = 0; i < 300; i++) {
      await m.invalidateDeps([`p:~tag:unrelated:${i}`]);
      const viewer = i % 2 === 0 ? 'bob' : 'alice';
      expect(await m.getOrSet('p:list', compute, policy, { deps: [...tags, `p:~tag:viewer:${viewer}`] })).toBe(1);
    }
    await m.invalidateDeps(['p:~tag:viewer:alice']); // the tags it was computed with
    expect(await m.getOrSet('p:list', compute, policy, { deps: [...tags, 'p:~tag:viewer:bob'] })).toBe(2);
  });
});
