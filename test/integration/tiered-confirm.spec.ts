/**
 * Tiered over memcached (no bus): an L1 copy is confirmed by one read of L2's epoch. After an
 * unrelated invalidation, the copy's entry is checked once against its tokens; from then on the
 * copy is confirmed by the epoch that check read. Before, the copy kept the epoch its entry was
 * written under, so every later hit re-read the entry from L2 (40 reads for 20 hits, found by
 * review). A related invalidation still reaches the copy.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  InvalidationService,
  memcachedStore,
  memoryStore,
  tieredStore,
  type TieredStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

@Injectable()
class Items {
  runs = 0;
  @CacheMemoize({ ttl: '10m', tags: (id: number) => [`item:${id}`] })
  async get(id: number): Promise<{ id: number; run: number }> {
    return { id, run: ++this.runs };
  }
}

describe('tiered over memcached: L1 hits after an unrelated invalidation', () => {
  let app: TestingModule;
  beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));
  afterEach(() => app.close());

  it('are confirmed by the epoch alone once checked, and a related invalidation still reaches them', async () => {
    const store = tieredStore(memoryStore(), memcachedStore({ servers: servers.memcached[0] })) as TieredStore;
    app = await appOn(store, uniquePrefix('tconfirm'), [Items]);
    const items = app.get(Items);
    const inv = app.get(InvalidationService);
    await items.get(1);
    await settle(app);
    await inv.invalidateTags(['item:999']); // unrelated
    expect(await items.get(1)).toEqual({ id: 1, run: 1 }); // checked once against its tokens
    await settle(app);
    const reads: number[] = [];
    const getMany = store.l2.getMany.bind(store.l2);
    store.l2.getMany = (keys: readonly string[]) => {
      reads.push(keys.length);
      return getMany(keys);
    };
    try {
      for (let i = 0; i < 20; i++) expect(await items.get(1)).toEqual({ id: 1, run: 1 });
      // Each hit read the epoch alone: no [epoch, entry] read of L2.
      expect({ hits: reads.length, entryReads: reads.filter((n) => n > 1).length }).toEqual({
        hits: 20,
        entryReads: 0,
      });
      await inv.invalidateTags(['item:1']);
      expect(await items.get(1)).toEqual({ id: 1, run: 2 });
    } finally {
      store.l2.getMany = getMany;
    }
  });
});
