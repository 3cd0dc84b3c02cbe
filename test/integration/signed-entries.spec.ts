/**
 * Signed and compressed entries (issue 18): whoever can write to the shared store (another app, a
 * leaked password, an ACL mistake) must not make an instance serve what they wrote. Forged and
 * foreign entries are written with raw clients; every one must be a miss that is recomputed and
 * overwritten, reported as `tampered`, never an exception.
 */
import 'reflect-metadata';
import * as zlib from 'node:zlib';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeErrorCode,
  CacheMemoizeModule,
  cacheHandle,
  memcachedStore,
  redisStore,
  tieredStore,
  memoryStore,
  taggedJsonSerializer,
  type CacheEvent,
  type CacheMemoizeModuleOptions,
  type CacheStore,
} from '../../lib';
import { buildEnvelope, decodeEnvelope, COMPRESSED, SIGNED } from '../../lib/codec/envelope';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { written as entryWritten } from '../support/written';

const servers = sharedServers();
const SECRET = 'a-long-enough-secret-0001';
const OTHER = 'another-secret-of-length-02';

type Account = { id: number; owner: string; balance: number; run: number };

@Injectable()
class Accounts {
  runs = 0;

  @CacheMemoize({ ttl: '1m' })
  async account(id: number): Promise<Account> {
    return { id, owner: `user-${id}`, balance: 100 * id, run: ++this.runs };
  }

  @CacheMemoize({ ttl: '1m' })
  async report(id: number): Promise<{ id: number; rows: Array<{ n: number; text: string }>; run: number }> {
    const rows = Array.from({ length: 1_000 }, (_, n) => ({ n, text: `row ${n} of report ${id}: lorem ipsum dolor` }));
    return { id, rows, run: ++this.runs };
  }
}

interface Instance {
  module: TestingModule;
  accounts: Accounts;
  events: CacheEvent[];
  engine: CacheMemoizeEngine;
  /** Store keys written, by 'Accounts.method:arg'. */
  keyOf(method: 'account' | 'report', id: number): Promise<string>;
}

async function instance(store: CacheStore, options: Partial<CacheMemoizeModuleOptions>): Promise<Instance> {
  const events: CacheEvent[] = [];
  const module = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { shared: store }, onEvent: (e) => events.push(e), ...options })],
    providers: [Accounts],
  }).compile();
  await module.init();
  const accounts = module.get(Accounts);
  return {
    module,
    accounts,
    events,
    engine: module.get(CacheMemoizeEngine),
    keyOf: async (method, id) => cacheHandle(accounts, method).keyOf(id),
  };
}

/** Writes land in the background after a call returns: wait (bounded) for the entry's 'set' event. */
async function written(i: Instance, key: string): Promise<void> {
  await entryWritten(i.events, key);
}

/** Raw stores have no offline queue: wait for the connection before writing behind the engine's back. */
async function connected<S extends CacheStore>(store: S): Promise<S> {
  const inner = 'l2' in store ? (store as unknown as { l2: CacheStore }).l2 : store;
  await inner.ready?.(2_000);
  return store;
}

type StoreCase = [string, () => CacheStore];
const stores: StoreCase[] = [
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
];

/** An entry as another client could write it: valid layout, fresh for a minute, unsigned. */
const forgedBody = (body: Uint8Array, flags = 0): Buffer => {
  const now = Date.now();
  const meta = { createdAt: now, freshUntil: now + 60_000, staleUntil: now + 60_000, epoch: '', etag: undefined };
  return buildEnvelope({ ...meta, deps: [], tokens: [] }, body, flags, 'x');
};
const forged = (value: unknown): Buffer => forgedBody(taggedJsonSerializer.encode(value));

describe.each(stores)('signed entries on %s', (_name, makeStore) => {
  let prefix: string;
  const opened: Instance[] = [];
  let raw: CacheStore;
  const open = async (options: Partial<CacheMemoizeModuleOptions>) => {
    const i = await instance(makeStore(), { prefix, ...options });
    opened.push(i);
    return i;
  };
  /** The byte store under the engine: what any other client of the server can do. */
  const rawStore = (): CacheStore => {
    const s = makeStore();
    return s instanceof Object && 'l2' in s ? (s as unknown as { l2: CacheStore }).l2 : s;
  };

  beforeEach(async () => {
    prefix = uniquePrefix('sig');
    raw = await connected(rawStore());
  });
  afterEach(async () => {
    for (const i of opened.splice(0)) await i.module.close();
    await raw.disconnect();
  });

  it('serves signed entries across instances and recomputes a forged unsigned one, then overwrites it', async () => {
    const a = await open({ secret: SECRET });
    const b = await open({ secret: SECRET });
    expect((await a.accounts.account(1)).run).toBe(1);
    const key = await a.keyOf('account', 1);
    await written(a, key); // a's write lands after its call returns
    expect((await b.accounts.account(1)).run).toBe(1); // signed by a, verified by b: a hit
    expect(b.accounts.runs).toBe(0);

    const stored = await raw.get(key);
    expect(stored![3] & SIGNED).toBe(SIGNED);
    await raw.set(key, forged({ id: 1, owner: 'attacker', balance: 1e9, run: 0 }), 60_000);

    const c = await open({ secret: SECRET });
    const served = await c.accounts.account(1);
    await written(c, key);
    expect(served.owner).toBe('user-1');
    expect(c.accounts.runs).toBe(1);
    expect(c.events).toContainEqual(expect.objectContaining({ type: 'tampered', key, reason: 'unsigned' }));
    expect(c.engine.stats().byStore.shared.tampered).toBe(1);
    // Overwritten by the recomputation: signed again, and the next instance hits it.
    const rewritten = await raw.get(key);
    expect(rewritten![3] & SIGNED).toBe(SIGNED);
    const d = await open({ secret: SECRET });
    expect((await d.accounts.account(1)).owner).toBe('user-1');
    expect(d.accounts.runs).toBe(0);
  });

  it('refuses an entry signed with another secret, a flipped byte, a truncated entry and garbage', async () => {
    const a = await open({ secret: SECRET });
    const other = await open({ secret: OTHER });
    await other.accounts.account(2); // signed with OTHER
    await written(other, await other.keyOf('account', 2));
    const key = await a.keyOf('account', 2);
    expect((await a.accounts.account(2)).run).toBe(1);
    expect(a.events).toContainEqual(expect.objectContaining({ type: 'tampered', key, reason: 'signature' }));
    // a's rewrite lands after its call returns: read it only then, or it lands over the first case.
    await written(a, key);

    const good = Buffer.from((await raw.get(key))!);
    const cases: Array<[string, Buffer]> = [
      ['a flipped value byte', Buffer.from(good).fill(good[good.length - 20] ^ 1, good.length - 20, good.length - 19)],
      ['a later deadline', Buffer.from(good).fill(0x7f, 12, 20)],
      ['the signature cut off', Buffer.from(good.subarray(0, good.length - 16))],
      ['no signature flag', Buffer.from(good).fill(good[3] & ~SIGNED, 3, 4)],
      ['garbage', Buffer.from('definitely not an entry')],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, bytes] of cases) {
      await raw.set(key, bytes, 60_000);
      // A new instance each time: a tiered instance keeps what it computed itself in memory.
      const reader = await open({ secret: SECRET });
      await expect(reader.accounts.account(2)).resolves.toMatchObject({ id: 2, owner: 'user-2' });
      expect([what, reader.accounts.runs]).toEqual([what, 1]);
      await written(reader, key); // its rewrite lands before the next case writes behind it
      expect([
        what,
        reader.engine.stats().byStore.shared.tampered + reader.engine.stats().byStore.shared.errors,
      ]).toEqual([what, 1]);
    }
  });

  it("binds the signature to the key: another user's valid entry copied under this key is refused", async () => {
    const a = await open({ secret: SECRET });
    await a.accounts.account(3);
    await a.accounts.account(4);
    await written(a, await a.keyOf('account', 3));
    await written(a, await a.keyOf('account', 4));
    const k3 = await a.keyOf('account', 3);
    const k4 = await a.keyOf('account', 4);
    await raw.set(k4, (await raw.get(k3))!, 60_000); // user 3's signed entry under user 4's key
    const b = await open({ secret: SECRET });
    expect(await b.accounts.account(4)).toMatchObject({ id: 4, owner: 'user-4' });
    expect(b.events).toContainEqual(expect.objectContaining({ type: 'tampered', key: k4, reason: 'signature' }));
  });

  it('rotates secrets without a cold cache: the first signs, every listed one verifies', async () => {
    const old = await open({ secret: SECRET });
    await old.accounts.account(5);
    await written(old, await old.keyOf('account', 5));
    const rolled = await open({ secret: [OTHER, SECRET] });
    expect((await rolled.accounts.account(5)).run).toBe(1); // old signature still verifies
    expect(rolled.accounts.runs).toBe(0);
    await rolled.accounts.account(6); // signed with OTHER
    await written(rolled, await rolled.keyOf('account', 6));
    const only = await open({ secret: [OTHER] });
    expect(only.accounts.runs).toBe(0);
    await only.accounts.account(6);
    expect(only.accounts.runs).toBe(0);
    await only.accounts.account(5); // signed with the dropped secret: refused
    expect(only.accounts.runs).toBe(1);
  });

  it('instances without a secret read signed entries (turning signing on is a rolling deploy)', async () => {
    const signing = await open({ secret: SECRET });
    await signing.accounts.account(7);
    await written(signing, await signing.keyOf('account', 7));
    const plain = await open({});
    expect((await plain.accounts.account(7)).run).toBe(1);
    expect(plain.accounts.runs).toBe(0);
  });

  it('keeps a signed entry valid when expireIn rewrites its deadlines', async () => {
    const a = await open({ secret: SECRET });
    await a.accounts.account(8);
    await written(a, await a.keyOf('account', 8));
    expect(await cacheHandle(a.accounts, 'account').expireIn('30s', 8)).toBe(true);
    const b = await open({ secret: SECRET });
    expect((await b.accounts.account(8)).run).toBe(1);
    expect(b.accounts.runs).toBe(0);
    expect(b.events.some((e) => e.type === 'tampered')).toBe(false);
  });
});

describe.each(stores)('compressed entries on %s', (_name, makeStore) => {
  let prefix: string;
  const opened: Instance[] = [];
  const open = async (options: Partial<CacheMemoizeModuleOptions>) => {
    const i = await instance(makeStore(), { prefix, ...options });
    opened.push(i);
    return i;
  };
  beforeEach(() => (prefix = uniquePrefix('zip')));
  afterEach(async () => {
    for (const i of opened.splice(0)) await i.module.close();
  });

  it.each(['brotli', 'gzip'] as const)(
    'compresses values above the threshold with %s, and every reader understands both forms',
    async (algorithm) => {
      const zipping = await open({ compress: { threshold: '1kb', algorithm }, secret: SECRET });
      const report = await zipping.accounts.report(1);
      await zipping.accounts.account(1);
      await written(zipping, await zipping.keyOf('report', 1));
      await written(zipping, await zipping.keyOf('account', 1));
      const raw = await connected(makeStore());
      const l2 = 'l2' in raw ? (raw as unknown as { l2: CacheStore }).l2 : raw;
      const big = (await l2.get(await zipping.keyOf('report', 1)))!;
      const small = (await l2.get(await zipping.keyOf('account', 1)))!;
      await raw.disconnect();
      expect(big[3] & COMPRESSED).toBe(COMPRESSED);
      expect(small[3] & COMPRESSED).toBe(0); // under the threshold
      expect(big.length).toBeLessThan(JSON.stringify(report).length / 4);

      // An instance with compression off reads it (rolling deploy), and its own writes are read back.
      const plain = await open({ secret: SECRET });
      expect(await plain.accounts.report(1)).toEqual(report);
      expect(plain.accounts.runs).toBe(0);
      const second = await plain.accounts.report(2);
      await written(plain, await plain.keyOf('report', 2));
      const other = await open({ compress: { algorithm: algorithm === 'gzip' ? 'brotli' : 'gzip' }, secret: SECRET });
      expect(await other.accounts.report(2)).toEqual(second);
      expect(other.accounts.runs).toBe(0);
    },
  );
});

describe('signing and compression options', () => {
  const bad: Array<[string, Partial<CacheMemoizeModuleOptions>, RegExp]> = [
    ['a short secret', { secret: 'short' }, /secret must be a string of at least 16 characters/],
    ['an empty list', { secret: [] }, /secret must be a string or a non-empty array/],
    ['a non-string in the list', { secret: [SECRET, 42 as unknown as string] }, /secret\[1\]/],
    ['an unknown algorithm', { compress: { algorithm: 'lz4' as 'gzip' } }, /compress.algorithm must be/],
    ['a bad threshold', { compress: { threshold: 'big' as '1kb' } }, /compress.threshold: expected a size/],
  ];
  it.each(bad)('refuses %s at bootstrap, naming the option', async (_what, options, message) => {
    const attempt = Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ stores: { shared: memoryStore() }, ...options })],
    }).compile();
    await expect(attempt).rejects.toMatchObject({ code: CacheMemoizeErrorCode.InvalidOption, message });
  });

  it('refuses them in a store factory, naming the factory', () => {
    expect(() => redisStore({ url: servers.redis, secret: 'short' })).toThrow(/^redisStore\(\): secret/);
    expect(() => memcachedStore({ servers: servers.memcached[0], compress: { algorithm: 'lz4' as 'gzip' } })).toThrow(
      /^memcachedStore\(\): compress.algorithm/,
    );
  });

  it('zstd: used where Node has it, refused with the Node version where it does not', () => {
    const has = typeof (zlib as { zstdCompress?: unknown }).zstdCompress === 'function';
    const make = () => redisStore({ url: servers.redis, compress: { algorithm: 'zstd' } });
    if (has) void make().disconnect();
    else expect(make).toThrow(/zstd' needs Node 22.15 or later/);
  });

  it("a store's own secret wins over the module's", async () => {
    const prefix = uniquePrefix('own');
    const a = await instance(redisStore({ url: servers.redis, secret: OTHER }), { prefix, secret: SECRET });
    await a.accounts.account(1);
    await written(a, await a.keyOf('account', 1));
    const raw = await connected(redisStore({ url: servers.redis }));
    const bytes = (await raw.get(await a.keyOf('account', 1)))!;
    await raw.disconnect();
    const b = await instance(redisStore({ url: servers.redis }), { prefix, secret: OTHER });
    expect((await b.accounts.account(1)).run).toBe(1);
    expect(b.accounts.runs).toBe(0);
    expect(decodeEnvelope(bytes).flags & SIGNED).toBe(SIGNED);
    await a.module.close();
    await b.module.close();
  });

  it('refuses a compressed entry that would inflate past 64 MiB (a decompression bomb is a miss)', async () => {
    const prefix = uniquePrefix('bomb');
    const a = await instance(redisStore({ url: servers.redis }), { prefix });
    await a.accounts.account(1);
    const key = await a.keyOf('account', 1);
    await written(a, key);
    const bomb = zlib.brotliCompressSync(Buffer.alloc(65 * 1024 * 1024, 0x20), {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 },
    });
    const client = new Redis(servers.redis);
    await client.set(key, forgedBody(Buffer.concat([Buffer.from([2]), bomb]), COMPRESSED), 'PX', 60_000);
    await client.quit();
    expect(await a.accounts.account(1)).toMatchObject({ owner: 'user-1', run: 2 });
    expect(a.events).toContainEqual(expect.objectContaining({ type: 'error', operation: 'decode', key }));
    await a.module.close();
  });
});
