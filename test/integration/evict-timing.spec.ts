/**
 * When `@CacheEvict` busts, and who waits for it:
 * - `before: true` decided "wait for the bust" by the method being declared `async`: a method that
 *   returns a Promise without the keyword (`return this.repo.save(x)`) ran its body before the bust
 *   was durable, and a failed bust was swallowed. The declared return type (Promise, Observable)
 *   now counts too; an undeclared one is learned from the first call (warned once).
 * - An Observable method busted only when the source's completion reached the subscriber: a
 *   consumer taking the first value (`firstValueFrom`, `take(1)`) unsubscribed first, and nothing
 *   was ever busted.
 */
import 'reflect-metadata';
import { Controller, Get, Injectable, type INestApplication, Logger, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  concat,
  defer,
  EMPTY,
  firstValueFrom,
  lastValueFrom,
  map,
  type Observable,
  of,
  take,
  throwError,
  timeout,
  timer,
} from 'rxjs';
import request from 'supertest';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeModule,
  InvalidationFailedError,
  memcachedStore,
  memoryStore,
  redisStore,
  type CacheStore,
} from '../../lib';
import { freePort } from '../support/servers';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';

const servers = sharedServers();
let warn: jest.SpyInstance;
beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});
const db = new Map<number, number>();
let bodyRuns = 0;

@Injectable()
class Catalog {
  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`item:${id}`] })
  async item(id: number): Promise<number> {
    return db.get(id) ?? -1;
  }
}

@Injectable()
class Importer {
  constructor(private readonly catalog: Catalog) {}

  /** Not `async`, declared to return a Promise: "bust first, then run" reads the new value through the cache. */
  @CacheEvict({ tags: (id: number) => [`item:${id}`], before: true })
  reimport(id: number): Promise<number> {
    bodyRuns++;
    return this.catalog.item(id);
  }

  /** Neither `async` nor annotated (as in JavaScript): learned from the first call. */
  @CacheEvict({ tags: (id: number) => [`item:${id}`], before: true })
  reimportUntyped(id: number) {
    bodyRuns++;
    return this.catalog.item(id);
  }

  /** An Observable body subscribes after the bust. */
  @CacheEvict({ tags: (id: number) => [`item:${id}`], before: true })
  reimport$(id: number): Observable<number> {
    return defer(() => {
      bodyRuns++;
      return this.catalog.item(id);
    });
  }

  /** A one-shot Observable write, as @nestjs/axios' HttpService returns. */
  @CacheEvict({ tags: (id: number) => [`item:${id}`] })
  save$(id: number, v: number): Observable<number> {
    return timer(5).pipe(
      map(() => {
        db.set(id, v);
        return v;
      }),
    );
  }

  /** Emits the written value, then keeps the stream open (a progress feed, a socket). */
  @CacheEvict({ tags: (id: number) => [`item:${id}`] })
  saveAndWatch$(id: number, v: number): Observable<number> {
    return concat(of(v).pipe(map((x) => (db.set(id, x), x))), timer(60_000).pipe(map(() => -1)));
  }

  /** The write happens at subscription; the row comes back later (a slow call the subscriber may give up on). */
  @CacheEvict({ tags: (id: number) => [`item:${id}`], resultTags: (row: { team: string }) => [`team:${row.team}`] })
  slowSave$(id: number, v: number): Observable<{ team: string }> {
    db.set(id, v);
    return timer(500).pipe(map(() => ({ team: 'a' })));
  }

  /** A write that only completes. */
  @CacheEvict({ tags: (id: number) => [`item:${id}`], resultTags: (row: { team: string }) => [`team:${row.team}`] })
  touch$(id: number, v: number): Observable<{ team: string }> {
    db.set(id, v);
    return EMPTY;
  }

  /** resultTags that throw: the other sources are still busted, and the call fails. */
  @CacheEvict({ tags: (id: number) => [`item:${id}`], resultTags: () => [''] })
  async badResultTags(id: number, v: number): Promise<number> {
    db.set(id, v);
    return v;
  }

  @CacheEvict({ tags: (id: number) => [`item:${id}`] })
  failing$(id: number): Observable<number> {
    return throwError(() => new Error(`write of ${id} failed`));
  }
}

const opened: Array<{ close(): Promise<void> }> = [];
const orphans: CacheStore[] = [];
afterEach(async () => {
  for (const a of opened.splice(0)) await a.close();
  for (const s of orphans.splice(0)) await s.disconnect();
});

async function boot(store: CacheStore): Promise<TestingModule> {
  const m = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: uniquePrefix('evt') })],
    providers: [Catalog, Importer],
  }).compile();
  opened.push(m);
  await m.init();
  return m;
}

/** A Redis address nothing listens on: every bust fails (after the store's retries). */
async function deadRedis(): Promise<CacheStore> {
  const store = redisStore({ url: `redis://127.0.0.1:${await freePort()}` });
  return store;
}

const outcome = (p: Promise<unknown>) =>
  p.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ rejected: error }),
  );

describe.each([
  ['memcached', () => memcachedStore({ servers: servers.memcached.join(',') })],
  ['redis', () => redisStore({ url: servers.redis })],
])('@CacheEvict({ before: true }) on a method returning a Promise without async (%s)', (_name, makeStore) => {
  it('the body runs after the bust: it reads the new value through the cache, 200 of 200 rounds', async () => {
    const m = await boot(makeStore());
    const catalog = m.get(Catalog);
    const importer = m.get(Importer);
    let stale = 0;
    for (let r = 0; r < 200; r++) {
      db.set(r, r * 2);
      await catalog.item(r);
      await settle(m);
      db.set(r, r * 2 + 1);
      if ((await importer.reimport(r)) !== r * 2 + 1) stale++;
    }
    expect(`${stale} of 200 bodies read the value from before the bust`).toBe(
      '0 of 200 bodies read the value from before the bust',
    );
  }, 120_000);

  it('an Observable body subscribes after the bust', async () => {
    const m = await boot(makeStore());
    db.set(1000, 1);
    await m.get(Catalog).item(1000);
    await settle(m);
    db.set(1000, 2);
    expect(await lastValueFrom(m.get(Importer).reimport$(1000))).toBe(2);
  });
});

describe('@CacheEvict({ before: true }) on a method neither async nor annotated (redis)', () => {
  it('an undeclared Promise return: learned from the first call (warned once), later calls wait for the bust', async () => {
    const m = await boot(redisStore({ url: servers.redis }));
    const catalog = m.get(Catalog);
    const importer = m.get(Importer);
    warn.mockClear();
    await importer.reimportUntyped(2000); // the first call: its body ran before the bust
    expect(warn.mock.calls.map(([message]) => String(message))).toEqual([
      expect.stringContaining(
        '@CacheEvict({ before: true }) on Importer.reimportUntyped: the method returns a Promise',
      ),
    ]);
    let stale = 0;
    for (let r = 1; r <= 50; r++) {
      db.set(2000 + r, 1);
      await catalog.item(2000 + r);
      await settle(m);
      db.set(2000 + r, 2);
      if ((await importer.reimportUntyped(2000 + r)) !== 2) stale++;
    }
    expect(stale).toBe(0);
    expect(warn).toHaveBeenCalledTimes(1);
  }, 60_000);
});

describe('@CacheEvict({ before: true }) when the bust fails', () => {
  it.each([
    ['declared Promise', 'reimport'],
    ['Observable', 'reimport$'],
  ] as const)(
    '%s: the call rejects with InvalidationFailedError (completed: false) and the body does not run',
    async (_what, method) => {
      const store = await deadRedis();
      const m = await boot(store);
      bodyRuns = 0;
      const call = m.get(Importer)[method](1);
      const result = await outcome(
        method === 'reimport$' ? lastValueFrom(call as Observable<number>) : (call as Promise<number>),
      );
      expect(result).toEqual({ rejected: expect.any(InvalidationFailedError) });
      expect((result as { rejected: InvalidationFailedError }).rejected.completed).toBe(false);
      expect(bodyRuns).toBe(0);
    },
    30_000,
  );
});

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached.join(',') })],
])('@CacheEvict on an Observable method (%s)', (_name, makeStore) => {
  let m: TestingModule;
  let catalog: Catalog;
  let importer: Importer;
  beforeEach(async () => {
    m = await boot(makeStore());
    catalog = m.get(Catalog);
    importer = m.get(Importer);
  });
  const cached = async (id: number, v: number) => {
    db.set(id, v);
    expect(await catalog.item(id)).toBe(v);
    await settle(m);
  };
  /** Bounded: the bust of a subscriber that left early runs in the background. */
  const eventually = async (id: number, v: number) => {
    for (let t = 0; t < 100 && (await catalog.item(id)) !== v; t++) await new Promise((r) => setTimeout(r, 20));
    return catalog.item(id);
  };

  it('lastValueFrom: the bust is done when the call resolves', async () => {
    await cached(1, 1);
    expect(await lastValueFrom(importer.save$(1, 2))).toBe(2);
    expect(await catalog.item(1)).toBe(2);
  });

  it('firstValueFrom (unsubscribes on the value): the bust still runs', async () => {
    await cached(2, 1);
    expect(await firstValueFrom(importer.save$(2, 2))).toBe(2);
    expect(await eventually(2, 2)).toBe(2);
  });

  it('take(1) on a stream that stays open: the bust runs when the subscriber leaves', async () => {
    await cached(3, 1);
    expect(await lastValueFrom(importer.saveAndWatch$(3, 2).pipe(take(1)))).toBe(2);
    expect(await eventually(3, 2)).toBe(2);
  });

  it('a subscriber that gives up before any value (timeout): the static tags are busted, result tags skipped', async () => {
    await cached(5, 1);
    await expect(firstValueFrom(importer.slowSave$(5, 2).pipe(timeout(20)))).rejects.toThrow();
    expect(await eventually(5, 2)).toBe(2);
  });

  it('an Observable that completes without a value busts its static tags, without error', async () => {
    await cached(6, 1);
    await expect(lastValueFrom(importer.touch$(6, 2), { defaultValue: 'none' })).resolves.toBe('none');
    expect(await catalog.item(6)).toBe(2);
  });

  it('resultTags that are invalid: the static tags are still busted, and the call rejects', async () => {
    await cached(7, 1);
    const error = await importer.badResultTags(7, 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidationFailedError);
    expect((error as InvalidationFailedError).result).toBe(2);
    expect(await catalog.item(7)).toBe(2);
  });

  it('a failing Observable busts nothing', async () => {
    await cached(4, 1);
    db.set(4, 2);
    await expect(lastValueFrom(importer.failing$(4))).rejects.toThrow('write of 4 failed');
    await settle(m);
    expect(await catalog.item(4)).toBe(1);
  });
});

@Controller('items')
class ItemsController {
  constructor(private readonly catalog: Catalog) {}

  @Get(':id')
  item(@Param('id') id: string): Promise<number> {
    return this.catalog.item(Number(id));
  }

  @Post(':id/:v')
  @CacheEvict({ tags: (id: string) => [`item:${id}`] })
  async write(@Param('id') id: string, @Param('v') v: string): Promise<{ id: number; v: number }> {
    db.set(Number(id), Number(v));
    return { id: Number(id), v: Number(v) };
  }

  /** Synchronous: callers (a controller unit test) get the value, not a Promise. */
  @Post(':id/:v/sync')
  @CacheEvict({ tags: (id: string) => [`item:${id}`] })
  writeSync(@Param('id') id: string, @Param('v') v: string): { id: number; v: number } {
    db.set(Number(id), Number(v));
    return { id: Number(id), v: Number(v) };
  }

  @Post(':id/:v/reset')
  @CacheEvict({ tags: (id: string) => [`item:${id}`], before: true })
  async reset(@Param('id') id: string, @Param('v') v: string): Promise<{ id: number; v: number }> {
    bodyRuns++;
    db.set(Number(id), Number(v));
    return { id: Number(id), v: Number(v) };
  }
}

describe('@CacheEvict on a route handler', () => {
  async function http(store: CacheStore): Promise<INestApplication> {
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: uniquePrefix('evh') })],
      controllers: [ItemsController],
      providers: [Catalog],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
    opened.push(app);
    await app.listen(0, '127.0.0.1');
    return app;
  }

  it('a synchronous handler stays synchronous: called directly it returns its value, and the bust lands (memory)', async () => {
    const app = await http(memoryStore());
    db.set(8, 1);
    const catalog = app.get(Catalog);
    expect(await catalog.item(8)).toBe(1);
    expect(app.get(ItemsController).writeSync('8', '2')).toEqual({ id: 8, v: 2 });
    expect(await catalog.item(8)).toBe(2);
  });

  it('the store is down: the POST fails (500), and with before: true its body does not run', async () => {
    const app = await http(await deadRedis());
    const res = await request(app.getHttpServer()).post('/items/1/2');
    expect(res.status).toBe(500);
    bodyRuns = 0;
    const before = await request(app.getHttpServer()).post('/items/1/2/reset');
    expect(before.status).toBe(500);
    expect(bodyRuns).toBe(0);
  }, 30_000);
});
