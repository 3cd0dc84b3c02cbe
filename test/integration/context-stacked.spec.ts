/*
 * Review of 6305b7d: the prototype dispatcher ran the method in a detached frame of its own, so
 * where the memoizer's wrapper reaches it through another layer — a decorator stacked above
 * (@CacheEvict, a tracing wrapper that copies metadata) or a subclass's memoized override calling
 * super — its cacheContext() spoke for nothing: skip() was ignored (null stored for the ttl) and
 * added tags lost (invalidateTags left the old value served). Inside a computation the method
 * runs as it always did; only calls nothing caches get a frame of their own.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeMany,
  CacheMemoizeModule,
  InvalidationService,
  cacheContext,
} from '../../lib';

/** A tracing decorator as libraries write them: wraps, and copies the metadata to the wrapper. */
function Span(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      return original.apply(this, args);
    };
    for (const k of Reflect.getMetadataKeys(original))
      Reflect.defineMetadata(k, Reflect.getMetadata(k, original), wrapped);
    descriptor.value = wrapped;
  };
}

let db = 'old';

@Injectable()
class Stacked {
  runs = 0;
  @Span()
  @CacheMemoize({ ttl: '1h' })
  async traced(id: number): Promise<string | null> {
    const cache = cacheContext();
    this.runs++;
    if (id === 0) cache.skip();
    else cache.addTags('org:7');
    return id === 0 ? null : db;
  }

  @CacheEvict({ tags: ['other'] })
  @CacheMemoize({ ttl: '1h' })
  async evicting(id: number): Promise<string | null> {
    const cache = cacheContext();
    this.runs++;
    if (id === 0) cache.skip();
    return id === 0 ? null : db;
  }

  @Span()
  @CacheMemoizeMany({ ttl: '1h' })
  async many(ids: number[]): Promise<Array<string | null>> {
    const cache = cacheContext();
    this.runs++;
    cache.setTtl(0); // nothing of this call is stored
    return ids.map(() => db);
  }
}

@Injectable()
class Base {
  runs = 0;
  @CacheMemoize({ ttl: '1h' })
  async find(id: number): Promise<string | null> {
    const cache = cacheContext();
    this.runs++;
    if (id === 0) cache.skip();
    return id === 0 ? null : db;
  }
}

@Injectable()
class Sub extends Base {
  @CacheMemoize({ ttl: '1h' })
  override async find(id: number): Promise<string | null> {
    return super.find(id);
  }
}

let app: TestingModule;
beforeEach(async () => {
  db = 'old';
  app = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({})],
    providers: [Stacked, Sub],
  }).compile();
  await app.init();
});
afterEach(() => app.close());

describe('cacheContext() through a layer between the memoizer and the method', () => {
  it.each(['traced', 'evicting'] as const)('%s: skip() is honoured (nothing stored)', async (method) => {
    const s = app.get(Stacked);
    expect(await s[method](0)).toBeNull();
    expect(await s[method](0)).toBeNull();
    expect(s.runs).toBe(2);
  });

  it('tags added under a stacked decorator are kept: invalidating them reaches the entry', async () => {
    const s = app.get(Stacked);
    expect(await s.traced(1)).toBe('old');
    db = 'new';
    await app.get(InvalidationService).invalidateTags(['org:7']);
    expect(await s.traced(1)).toBe('new');
  });

  it('a batch method under a stacked decorator: setTtl(0) is honoured', async () => {
    const s = app.get(Stacked);
    await s.many([1, 2]);
    await s.many([1, 2]);
    expect(s.runs).toBe(2);
  });

  it("a subclass's memoized override calling super: the base's skip() speaks for the override's entry", async () => {
    const sub = app.get(Sub);
    expect(await sub.find(0)).toBeNull();
    expect(await sub.find(0)).toBeNull();
    expect(sub.runs).toBe(2);
  });
});
