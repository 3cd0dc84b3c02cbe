import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createCache as createAsyncCacheDedupe } from 'async-cache-dedupe';
import type * as Bento from 'bentocache';
import type * as BentoMemory from 'bentocache/drivers/memory';
import { createCache } from 'cache-manager';
import { CacheMemoize, CacheMemoizeModule, memoryStore } from 'nestjs-cache-memoize';
import { importEsm } from './esm';
import { bench, fastestOf, printTable } from './harness';

const HOT_KEYS = 1_000;
/** Every cache here: 1 hour, room for 10,000 entries (all default to fewer or to unbounded). */
const TTL_MS = 3_600_000;
const MAX_ENTRIES = 10_000;

async function load(id: number): Promise<{ id: number; name: string }> {
  return { id, name: `user ${id}` };
}

@Injectable()
class UserService {
  @CacheMemoize({ ttl: '1h' })
  async getUser(id: number): Promise<{ id: number; name: string }> {
    return load(id);
  }
}

const FLOOR = 'floor: Map.get(JSON.stringify(args))';
const OURS = '@CacheMemoize hit (memory store)';
const OURS_NO_STATS = '@CacheMemoize hit, stats: false';
const CACHE_MANAGER = 'cache-manager 7 wrap() hit (memory)';
const BENTO = 'bentocache 1.6 getOrSet() hit (memory L1)';
const ACD = 'async-cache-dedupe 3 hit (memory)';
/** The libraries the target compares against (#17: ours >= 1.5x the fastest of them). */
const LIBRARIES = [BENTO, CACHE_MANAGER, ACD];

export async function memoryHitBench(): Promise<void> {
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore({ maxEntries: MAX_ENTRIES }) } })],
    providers: [UserService],
  }).compile();
  await moduleRef.init();
  const users = moduleRef.get(UserService);
  const noStatsRef = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({ stores: { default: memoryStore({ maxEntries: MAX_ENTRIES }) }, stats: false }),
    ],
    providers: [UserService],
  }).compile();
  await noStatsRef.init();
  const usersNoStats = noStatsRef.get(UserService);

  // Floor: the least any memoizer can do — a Map lookup by JSON.stringify(args), awaited like ours.
  const floor = new Map<string, unknown>();
  const floorGet = async (id: number) => {
    const key = JSON.stringify([id]);
    let v = floor.get(key);
    if (v === undefined) floor.set(key, (v = await load(id)));
    return v;
  };

  // The libraries, each as its docs show a memoized call, keyed from the arguments the way a
  // generic wrapper would (JSON of method name and args; async-cache-dedupe keys by itself).
  // cache-manager 7 on its default in-memory Keyv store (a Map; createCache() turns Keyv's
  // serialization off, so a hit returns the stored object, as ours does).
  const cm = createCache({ ttl: TTL_MS });
  const cmGet = (id: number) => cm.wrap(JSON.stringify(['getUser', id]), () => load(id));

  // bentocache: memory driver as the only layer. `serialize: false` keeps objects as they are,
  // like ours (its default, true, would JSON-parse on every hit: slower, so not the fair setting).
  const { BentoCache, bentostore } = await importEsm<typeof Bento>('bentocache');
  const { memoryDriver } = await importEsm<typeof BentoMemory>('bentocache/drivers/memory');
  const bento = new BentoCache({
    default: 'memory',
    ttl: TTL_MS,
    stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: MAX_ENTRIES, serialize: false })) },
  });
  const bentoGet = (id: number) => bento.getOrSet({ key: JSON.stringify(['getUser', id]), factory: () => load(id) });

  // async-cache-dedupe: its memory storage (an LRU of objects), ttl in seconds.
  const acd = createAsyncCacheDedupe({
    ttl: TTL_MS / 1000,
    storage: { type: 'memory', options: { size: MAX_ENTRIES } },
  }).define('getUser', (id: number) => load(id));
  const acdGet = (id: number) => acd.getUser(id);

  // Warm-up: every key computed once, so the measured loop is the hit path only.
  for (let i = 0; i < HOT_KEYS; i++) {
    await users.getUser(i);
    await usersNoStats.getUser(i);
    await floorGet(i);
    await cmGet(i);
    await bentoGet(i);
    await acdGet(i);
  }

  const results = await bench([
    { name: FLOOR, run: (i) => floorGet(i % HOT_KEYS) },
    { name: OURS, run: (i) => users.getUser(i % HOT_KEYS) },
    { name: OURS_NO_STATS, run: (i) => usersNoStats.getUser(i % HOT_KEYS) },
    { name: CACHE_MANAGER, run: (i) => cmGet(i % HOT_KEYS) },
    { name: BENTO, run: (i) => bentoGet(i % HOT_KEYS) },
    { name: ACD, run: (i) => acdGet(i % HOT_KEYS) },
  ]);
  const fastest = fastestOf(results, LIBRARIES);
  printTable(`memory hit, ${HOT_KEYS} hot keys, sequential awaits`, results, {
    'ours / floor (target >= 0.75)': `${OURS} / ${FLOOR}`,
    'ours / fastest library (target >= 1.5)': `${OURS} / ${fastest}`,
    'ours / bentocache': `${OURS} / ${BENTO}`,
    'ours / cache-manager wrap': `${OURS} / ${CACHE_MANAGER}`,
    'ours / async-cache-dedupe': `${OURS} / ${ACD}`,
    'stats on / stats off (cost of stats: keep >= 0.95)': `${OURS} / ${OURS_NO_STATS}`,
  });
  await moduleRef.close();
  await noStatsRef.close();
  await bento.disconnectAll();
}

if (require.main === module) void memoryHitBench();
