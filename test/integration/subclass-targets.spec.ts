/*
 * A subclass that inherits a memoized method is keyed under its own namespace ('SqlRepo.find').
 * With `{ provide: Repo, useClass: SqlRepo }` the code names the base class: invalidateMethod,
 * keyOf, evictCall and @CachePut must reach the entries the injected instance's calls wrote (and,
 * when both classes have instances, invalidations bust both). A given `instance` decides.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeModule,
  CachePut,
  cacheHandle,
  evictCall,
  InvalidationService,
  redisStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';

const servers = sharedServers();
beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});
let db = 0;

/** The token the app injects (a concrete default implementation); the decorated method lives here. */
@Injectable()
class Repo {
  @CacheMemoize({ ttl: '1h' })
  async find(_id: number): Promise<number> {
    return db;
  }
}
@Injectable()
class SqlRepo extends Repo {}

@Injectable()
class Writer {
  @CacheEvict({ methods: [evictCall(Repo, 'find', (id: number) => [id])] })
  async update(id: number, v: number): Promise<void> {
    db = v;
  }

  @CachePut({ method: [Repo, 'find'], args: (id: number) => [id] })
  async save(id: number, v: number): Promise<number> {
    db = v;
    return v;
  }
}

/** A value object made by hand, and a subclass of it. */
class Invoice {
  constructor(readonly id: string) {}
  @CacheMemoize({ instanceKey: (self: Invoice) => self.id, ttl: '1h' })
  async total(currency: string): Promise<string> {
    return `${db} ${currency}`;
  }
}
class CreditNote extends Invoice {}

async function boot() {
  const m = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: redisStore({ url: servers.redis }) },
        prefix: uniquePrefix('rvsub'),
      }),
    ],
    providers: [{ provide: Repo, useClass: SqlRepo }, Writer],
  }).compile();
  await m.init();
  return m;
}

describe('{ provide: Repo, useClass: SqlRepo }', () => {
  it('InvalidationService.keyOf(Repo, "find", [1]) is the key repo.find(1) uses', async () => {
    const m = await boot();
    const keys = [m.get(InvalidationService).keyOf(Repo, 'find', [1]), cacheHandle(m.get(Repo), 'find').keyOf(1)];
    await m.close();
    expect(keys[0]).toBe(keys[1]);
  });

  it('invalidateMethod(Repo, "find", [1]) busts repo.find(1)', async () => {
    const m = await boot();
    db = 1;
    expect(await m.get(Repo).find(1)).toBe(1);
    await settle(m);
    db = 2;
    await m.get(InvalidationService).invalidateMethod(Repo, 'find', [1]);
    const after = await m.get(Repo).find(1);
    await m.close();
    expect(after).toBe(2);
  });

  it('@CacheEvict({ methods: [evictCall(Repo, "find", ...)] }) busts repo.find(id)', async () => {
    const m = await boot();
    db = 1;
    expect(await m.get(Repo).find(2)).toBe(1);
    await settle(m);
    await m.get(Writer).update(2, 2);
    const after = await m.get(Repo).find(2);
    await m.close();
    expect(after).toBe(2);
  });

  it('@CachePut({ method: [Repo, "find"] }): the next repo.find(id) returns the saved value', async () => {
    const m = await boot();
    db = 1;
    expect(await m.get(Repo).find(3)).toBe(1);
    await settle(m);
    await m.get(Writer).save(3, 5);
    await settle(m);
    const after = await m.get(Repo).find(3);
    await m.close();
    expect(after).toBe(5);
  });
});

describe('hand-made subclass instance', () => {
  it('invalidateMethod(Invoice, "total", args, { instance }) busts the instance it is given', async () => {
    const m = await boot();
    const note: Invoice = new CreditNote('inv-1');
    db = 1;
    expect(await note.total('EUR')).toBe('1 EUR');
    await settle(m);
    db = 2;
    await m.get(InvalidationService).invalidateMethod(Invoice, 'total', ['EUR'], { instance: note });
    const after = await note.total('EUR');
    await m.close();
    expect(after).toBe('2 EUR');
  });
});

describe('a base class and its subclass, both providers', () => {
  it('invalidateMethod(Repo, ...) busts the calls of both instances', async () => {
    const m = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: redisStore({ url: servers.redis }) },
          prefix: uniquePrefix('rvsub2'),
        }),
      ],
      providers: [Repo, SqlRepo],
    }).compile();
    await m.init();
    db = 1;
    expect([await m.get(Repo).find(9), await m.get(SqlRepo).find(9)]).toEqual([1, 1]);
    await settle(m);
    db = 2;
    await m.get(InvalidationService).invalidateMethod(Repo, 'find', [9]);
    const after = [await m.get(Repo).find(9), await m.get(SqlRepo).find(9)];
    await m.close();
    expect(after).toEqual([2, 2]);
  });
});
