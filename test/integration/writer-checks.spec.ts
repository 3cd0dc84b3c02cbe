import 'reflect-metadata';
import { Injectable, Logger, type Type } from '@nestjs/common';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeMany,
  CachePut,
  evictCall,
  InvalidationFailedError,
  InvalidOptionError,
  memoryStore,
  UnknownMethodError,
  UnknownStoreError,
  type CacheEvictOptions,
} from '../../lib';
import { appOn } from '../support/app-on';

/*
 * @CacheEvict and @CachePut that cannot work fail the boot, naming the method and the fix (found
 * by review). Found at the call, they failed or busted nothing after the method had written the
 * database, and the old entry went on being served: a store name or option misspelt, a target
 * that is not memoized, a batch or instance-keyed @CachePut target, a namespace ending in '.'.
 */

beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));

const rows = new Map<number, string>([[1, 'alice']]);

@Injectable()
class Users {
  runs = 0;
  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`user:${id}`] })
  async getUser(id: number): Promise<string> {
    this.runs++;
    return rows.get(id) ?? 'none';
  }
  @CacheMemoizeMany({ ttl: '1h' })
  async getUsers(ids: number[]): Promise<string[]> {
    return ids.map((id) => rows.get(id) ?? 'none');
  }
  async plain(id: number): Promise<string> {
    return String(id);
  }
}

@Injectable()
class Keyed {
  readonly tenant = 't1';
  @CacheMemoize({ instanceKey: (self: Keyed) => self.tenant })
  async get(id: number): Promise<number> {
    return id;
  }
}

const boot = (writer: Type<unknown>) => appOn(memoryStore(), 'writers', [Users, Keyed, writer]);

const refusal = (writer: Type<unknown>) =>
  boot(writer).then(
    async (app) => {
      await app.close();
      return undefined;
    },
    (e: unknown) => e,
  );

function evictWriter(options: CacheEvictOptions<[number]>) {
  @Injectable()
  class Writer {
    @CacheEvict(options)
    async rename(id: number): Promise<void> {
      rows.set(id, 'renamed');
    }
  }
  return Writer;
}

describe('refused at bootstrap', () => {
  it.each<[string, CacheEvictOptions<[number]>, Function, string]>([
    [
      'an unknown @CacheEvict option',
      { tag: ['user:1'] } as unknown as CacheEvictOptions<[number]>,
      InvalidOptionError,
      "@CacheEvict on Writer.rename: unknown option 'tag' (did you mean 'tags'?); it would bust nothing.",
    ],
    [
      'a store not configured',
      { tags: ['x'], store: 'redsi' },
      UnknownStoreError,
      "option store 'redsi' is not configured. Known stores: default.",
    ],
    [
      'a namespace ending in a dot',
      { namespaces: ['Users.'] },
      InvalidOptionError,
      "namespace \"Users.\" ends with '.': a namespace is named whole, e.g. 'Users'",
    ],
    ['an empty tag', { tags: [''] }, InvalidOptionError, 'every tag must be a non-empty string'],
    [
      'an evictCall of a method that is not memoized',
      { methods: [evictCall(Users, 'plain', (id: number) => [id])] },
      UnknownMethodError,
      '@CacheEvict on Writer.rename: Users.plain is not a memoized method: decorate it with @CacheMemoize()',
    ],
  ])('%s', async (_case, options, type, message) => {
    const error = await refusal(evictWriter(options));
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toContain(message);
  });

  it.each<[string, Type<unknown>, Function, string]>([
    [
      'a @CachePut of a method that is not memoized',
      (() => {
        class Writer {
          @CachePut({ method: [Users, 'plain'], args: (id: number) => [id] })
          async put(id: number): Promise<string> {
            return String(id);
          }
        }
        Injectable()(Writer);
        return Writer;
      })(),
      UnknownMethodError,
      '@CachePut on Writer.put: Users.plain is not a memoized method',
    ],
    [
      'a @CachePut of a batch method',
      (() => {
        class Writer {
          @CachePut({ method: [Users, 'getUsers'], args: (ids: number[]) => [ids] })
          async put(ids: number[]): Promise<string[]> {
            return ids.map(String);
          }
        }
        Injectable()(Writer);
        return Writer;
      })(),
      InvalidOptionError,
      '@CachePut on Writer.put: Users.getUsers is a @CacheMemoizeMany method',
    ],
    [
      'a @CachePut of a method keyed by its instance',
      (() => {
        class Writer {
          @CachePut({ method: [Keyed, 'get'], args: (id: number) => [id] })
          async put(id: number): Promise<number> {
            return id;
          }
        }
        Injectable()(Writer);
        return Writer;
      })(),
      InvalidOptionError,
      "Keyed.get is keyed by its instance (instanceKey), which @CachePut cannot name: refresh it through cacheHandle(instance, 'get')",
    ],
  ])('%s', async (_case, writer, type, message) => {
    const error = await refusal(writer);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toContain(message);
  });
});

describe('at the call', () => {
  beforeEach(() => rows.set(1, 'alice'));

  it('an evictCall whose args return a string, not a list, rejects naming it (it keyed another call)', async () => {
    const asString = ((id: number) => String(id)) as unknown as (id: number) => [number];
    const Writer = evictWriter({ methods: [evictCall(Users, 'getUser', asString)] });
    const app = await boot(Writer);
    try {
      const users = app.get(Users);
      expect(await users.getUser(1)).toBe('alice');
      const error = await (app.get(Writer) as { rename(id: number): Promise<void> }).rename(1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidationFailedError);
      expect(String((error as Error).cause)).toContain(
        "evictCall(Users, 'getUser') args must return the call's argument list (e.g. (id: number) => [id]), got the string \"1\".",
      );
    } finally {
      await app.close();
    }
  });

  it('a @CacheEvict or @CachePut method called detached (no this) still busts or writes its entry', async () => {
    @Injectable()
    class Writer {
      @CacheEvict({ tags: (id: number) => [`user:${id}`] })
      async rename(id: number): Promise<void> {
        rows.set(id, 'renamed');
      }
      @CachePut({ method: [Users, 'getUser'], args: (id: number) => [id] })
      async put(id: number): Promise<string> {
        rows.set(id, 'put');
        return 'put';
      }
    }
    const app = await boot(Writer);
    try {
      const users = app.get(Users);
      const { rename, put } = app.get(Writer);
      expect(await users.getUser(1)).toBe('alice');
      await [1].map(rename)[0]; // threw a TypeError about a Symbol before
      expect(await users.getUser(1)).toBe('renamed');
      expect(await put(1)).toBe('put');
      const runs = users.runs;
      expect(await users.getUser(1)).toBe('put');
      expect(users.runs).toBe(runs); // the entry @CachePut wrote
    } finally {
      await app.close();
    }
  });
});
