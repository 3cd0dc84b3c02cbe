/**
 * The call-time contract: a bad argument throws a CacheMemoizeError with a stable code (it threw
 * plain TypeErrors), a transient provider's memoized method gets the documented warning (it ran
 * uncached silently), and tags or keys that differ only in lone surrogates stay apart (UTF-8 wrote
 * each as U+FFFD: '\ud800' and '\udc00' were one tag, so busting one busted the other).
 */
import 'reflect-metadata';
import { Inject, Injectable, Logger, Scope } from '@nestjs/common';
import { INQUIRER } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeErrorCode,
  CacheMemoizeModule,
  CacheService,
  InvalidArgumentError,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';

const servers = sharedServers();
const warnings: string[] = [];
beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation((m) => void warnings.push(String(m)));
});

const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0)) await m.close();
});
async function boot(providers: unknown[], store: CacheStore = memoryStore()): Promise<TestingModule> {
  const m = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: uniquePrefix('contract') })],
    providers: providers as never[],
  }).compile();
  opened.push(m);
  await m.init();
  return m;
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => e,
  );

@Injectable()
class Repo {
  @CacheMemoize({ ttl: '1h' })
  async find(id: number): Promise<number> {
    return id;
  }
}

describe('bad arguments', () => {
  it.each([
    ['invalidateTags([""])', (m: TestingModule) => m.get(InvalidationService).invalidateTags([''])],
    ['invalidateTags([42])', (m: TestingModule) => m.get(InvalidationService).invalidateTags([42 as never])],
    ['invalidateTags("a")', (m: TestingModule) => m.get(InvalidationService).invalidateTags('a' as never)],
    ['expireAt(NaN)', (m: TestingModule) => m.get(CacheService).expireAt('k', Number.NaN)],
    ['expireAt(Invalid Date)', (m: TestingModule) => m.get(CacheService).expireAt('k', new Date('nope'))],
    // A string would be busted letter by letter, leaving the entry: refused.
    ['invalidateKeys("key")', (m: TestingModule) => m.get(InvalidationService).invalidateKeys('key' as never)],
    [
      'invalidateMethod(cls, m, 5)',
      (m: TestingModule) => m.get(InvalidationService).invalidateMethod(Repo, 'find', 5 as never),
    ],
    ['CacheService.set("", 1)', (m: TestingModule) => m.get(CacheService).set('', 1)],
    ['CacheService.delete(["a"])', (m: TestingModule) => m.get(CacheService).delete(['a'] as never)],
  ])('%s rejects with InvalidArgumentError (CACHE_MEMOIZE_INVALID_ARGUMENT) naming the call', async (_what, call) => {
    const m = await boot([Repo]);
    const error = await rejection(call(m));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe(CacheMemoizeErrorCode.InvalidArgument);
    expect((error as Error).message).toMatch(/InvalidationService\.invalidate\w+|CacheService/);
  });
});

describe('scopes', () => {
  it('a transient provider with a memoized method gets one warning and runs uncached', async () => {
    let runs = 0;
    @Injectable({ scope: Scope.TRANSIENT })
    class TransientGreeter {
      constructor(@Inject(INQUIRER) private readonly parent: object) {}
      @CacheMemoize({ ttl: '1m' })
      async who(): Promise<string> {
        runs++;
        return this.parent.constructor.name;
      }
    }
    @Injectable()
    class Consumer {
      constructor(readonly g: TransientGreeter) {}
    }
    @Injectable()
    class Other {
      constructor(readonly g: TransientGreeter) {}
    }
    warnings.length = 0;
    const m = await boot([TransientGreeter, Consumer, Other]);
    expect(await m.get(Consumer).g.who()).toBe('Consumer');
    expect(await m.get(Consumer).g.who()).toBe('Consumer');
    expect(await m.get(Other).g.who()).toBe('Other'); // never the other consumer's answer
    expect(runs).toBe(3);
    expect(warnings.filter((w) => w.includes('TransientGreeter'))).toEqual([
      expect.stringContaining('TransientGreeter is request- or transient-scoped: @CacheMemoize on who is ignored'),
    ]);
  });
});

describe('scopes: a class provided both ways', () => {
  it.each(['singleton first', 'transient first'])(
    '(%s) its singleton is memoized, and the warning says only the scoped instances run uncached',
    async (order) => {
      let runs = 0;
      @Injectable()
      class Greeter {
        @CacheMemoize({ ttl: '1m' })
        async hello(): Promise<string> {
          runs++;
          return 'hello';
        }
      }
      const scoped = { provide: 'PER_CONSUMER', useClass: Greeter, scope: Scope.TRANSIENT };
      warnings.length = 0;
      const m = await boot(order === 'singleton first' ? [Greeter, scoped] : [scoped, Greeter]);
      await m.get(Greeter).hello();
      await m.get(Greeter).hello();
      expect(runs).toBe(1);
      const perConsumer = await m.resolve<Greeter>('PER_CONSUMER');
      expect(perConsumer).not.toBe(m.get(Greeter));
      await perConsumer.hello();
      expect(runs).toBe(2); // the transient instance runs as written
      expect(warnings.filter((w) => w.includes('Greeter'))).toEqual([
        'Greeter is also provided request- or transient-scoped: those instances run hello uncached (its singleton is memoized).',
      ]);
    },
  );
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached.join(',') })],
])('tags and keys with lone surrogates (%s)', (_name, makeStore) => {
  it("busting '\\ud800' leaves entries tagged '\\udc00' or '\\ufffd' alone", async () => {
    const m = await boot([], makeStore());
    const cache = m.get(CacheService);
    await cache.set('a', 1, { tags: ['\ud800'] });
    await cache.set('b', 2, { tags: ['\udc00'] });
    await cache.set('c', 3, { tags: ['\ufffd'] });
    await settle(m);
    await m.get(InvalidationService).invalidateTags(['\ud800']);
    expect([await cache.get('a'), await cache.get('b'), await cache.get('c')]).toEqual([undefined, 2, 3]);
  });

  it('keys that differ in lone surrogates are distinct entries', async () => {
    const m = await boot([], makeStore());
    const cache = m.get(CacheService);
    const long = 'x'.repeat(300); // hashed keys too
    await cache.set('\ud800', 1);
    await cache.set('\udc00', 2);
    await cache.set(`${long}\ud800`, 3);
    await cache.set(`${long}\udc00`, 4);
    await settle(m);
    expect([
      await cache.get('\ud800'),
      await cache.get('\udc00'),
      await cache.get(`${long}\ud800`),
      await cache.get(`${long}\udc00`),
    ]).toEqual([1, 2, 3, 4]);
  });
});
