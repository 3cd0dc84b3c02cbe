/*
 * memcached started with -C (CAS disabled: every token is 0, so a write carrying one is
 * unconditional), from review. A replacement (refresh, set, @CachePut) moves its key's bucket
 * token and then the epoch by compare-and-set; as check-then-write, an invalidation that resolved
 * between the read and the write was overwritten, and the refreshed value — computed before it —
 * was served by every instance afterwards. The interleaving is forced by holding the answer of
 * A's read of the record until B's invalidation resolved. Run against a server with CAS too.
 */
import { memcachedStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { MemcachedServer } from '../support/servers';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';

type Callback = (error: unknown, response: unknown) => void;
type Perform = (key: string, request: Buffer, seq: number, callback: Callback, retries?: number) => void;

/** Holds the answer of the next GET (opcode 0) of a key matching `match` until `meanwhile` resolved. */
function holdNextAnswer(client: unknown, match: (key: string) => boolean, meanwhile: () => Promise<void>): void {
  const memjs = client as { perform: Perform };
  const perform = memjs.perform;
  let armed = true;
  memjs.perform = function (this: unknown, key, request, seq, callback, retries) {
    if (!armed || request[1] !== 0x00 || !match(key)) return perform.call(this, key, request, seq, callback, retries);
    armed = false;
    const held: Callback = (error, response) =>
      void meanwhile().then(
        () => callback(error, response),
        () => callback(error, response),
      );
    return perform.call(this, key, request, seq, held, retries);
  };
}

describe.each([
  ['memcached -C', ['-C']],
  ['memcached with CAS', []],
])('%s', (name, args) => {
  let server: MemcachedServer;
  const opened: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    server = await MemcachedServer.launch(args);
  });
  afterAll(async () => {
    for (const close of opened) await close();
    await server.stop();
  });

  const pair = () => {
    const prefix = uniquePrefix('nocas');
    const stores = [memcachedStore({ servers: server.address }), memcachedStore({ servers: server.address })];
    const [a, b] = stores.map((s) => new Memoizer(s, { prefix }));
    opened.push(async () => {
      for (const m of [a, b]) await m.close();
      for (const s of stores) await s.disconnect();
    });
    return { prefix, client: stores[0].client, a, b };
  };

  it.each([
    ['a tag', '~epoch'],
    ['the key', '~kb:'],
  ])(
    "%s invalidated on B while A's refresh moves the key's version: the refreshed value is not served",
    async (what, record) => {
      const { prefix, client, a, b } = pair();
      const tag = `${prefix}:~t:user1`;
      const key = `${prefix}:Users.get:1`;
      const policy = testPolicy({ ttlMs: 600_000, deps: [tag] });
      expect(await a.getOrSet(key, async () => 'v0', policy)).toBe('v0');
      let invalidation: Promise<void> | undefined;
      const invalidate = () => (invalidation ??= what === 'a tag' ? b.invalidateDeps([tag]) : b.invalidateKeys([key]));
      await a.refresh(
        key,
        () => {
          // Computed now; its version moves come next, and the first read of the record is held.
          holdNextAnswer(client, (k) => k.includes(record), invalidate);
          return 'refreshed-before-invalidation';
        },
        policy,
      );
      await invalidate(); // when the record was not read (a refusal), it comes after the computation all the same
      expect(await b.getOrSet(key, async () => 'fresh', policy)).toBe('fresh');
      expect(await a.getOrSet(key, async () => 'fresh', policy)).toBe('fresh');
    },
  );

  it('refresh() on either instance and expireIn: stored and retimed with CAS; without it the key is invalidated instead and expireIn is false', async () => {
    const { prefix, a, b } = pair();
    const key = `${prefix}:Users.get:2`;
    const policy = testPolicy({ ttlMs: 600_000 });
    expect(await a.getOrSet(key, async () => 'v0', policy)).toBe('v0');
    const cas = name === 'memcached with CAS';
    await a.refresh(key, () => 'set', policy); // what CacheService.set() and handle.set() do
    expect(await b.getOrSet(key, async () => 'computed after set', policy)).toBe(cas ? 'set' : 'computed after set');
    await b.refresh(key, () => 'refreshed', policy);
    expect(await a.getOrSet(key, async () => 'computed after refresh', policy)).toBe(
      cas ? 'refreshed' : 'computed after refresh',
    );
    expect(await a.expire(key, 30_000, policy)).toBe(cas);
  });
});
