import { memcachedStore, memoryStore, redisStore, tieredStore, type CacheStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { sharedServers } from './shared-servers';

const makers = {
  redis: (s: Servers) => redisStore({ url: s.redis }),
  memcached: (s: Servers) => memcachedStore({ servers: s.memcached[0] }),
  'tiered over redis': (s: Servers) => tieredStore(memoryStore(), redisStore({ url: s.redis })),
  'tiered over memcached': (s: Servers) => tieredStore(memoryStore(), memcachedStore({ servers: s.memcached[0] })),
  memory: () => memoryStore(),
} satisfies Record<string, (s: Servers) => CacheStore>;

type Servers = ReturnType<typeof sharedServers>;
export type StoreCase = keyof typeof makers;

/**
 * `describe.each` rows of a name and a factory for each store kind asked for, on the servers
 * globalSetup started. Each call of a factory is a new store (a new instance of the fleet).
 */
export function storeCases(...kinds: StoreCase[]): Array<[StoreCase, () => CacheStore]> {
  const servers = sharedServers();
  return kinds.map((kind) => [kind, () => makers[kind](servers)]);
}

/**
 * Memoizers under `prefix` on new stores from `make` (each an instance of the fleet), ready; all
 * closed with their stores after the tests of the describe block this is called in.
 */
export function memoizersOf(make: () => CacheStore): (prefix: string) => Promise<Memoizer> {
  const made: Memoizer[] = [];
  afterAll(async () => {
    for (const m of made) {
      await m.close();
      await m.store.disconnect();
    }
  });
  return async (prefix) => {
    const store = make();
    await store.ready?.(5_000);
    const m = new Memoizer(store, { prefix });
    made.push(m);
    return m;
  };
}
