import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { CacheMemoize, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * An etag is any string: a long version string (a content hash list, a JSON of row versions)
 * still caches on a shared store, and two etags that differ only past their 255th byte, or only
 * in a lone surrogate, are two versions. Before the fix, an etag over 255 UTF-8 bytes made every
 * Redis write fail (reported as a store failure) and the method ran on every call.
 */

const servers = sharedServers();
const version = { tail: 'a' };

@Injectable()
class Docs {
  runs = 0;
  @CacheMemoize({ ttl: '1m', etag: (id: number) => `v-${'x'.repeat(300)}-${id}-${version.tail}` })
  async get(id: number): Promise<{ id: number; run: number }> {
    return { id, run: ++this.runs };
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('a long etag on %s', (_name, make) => {
  beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));

  it('is cached, and a change past its 255th byte (or in a lone surrogate) is a new version', async () => {
    const app = await appOn(make(), uniquePrefix('etaglong'), [Docs]);
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const docs = app.get(Docs);
      const read = async () => {
        const value = await docs.get(1);
        await settle(app);
        return value.run;
      };
      version.tail = 'a';
      expect([await read(), await read()]).toEqual([1, 1]);
      version.tail = 'b';
      expect([await read(), await read()]).toEqual([2, 2]);
      version.tail = '\ud800';
      expect([await read(), await read()]).toEqual([3, 3]);
      version.tail = '\udc00';
      expect([await read(), await read()]).toEqual([4, 4]);
      expect(warned).not.toHaveBeenCalled();
    } finally {
      warned.mockRestore();
      await app.close();
    }
  });
});
