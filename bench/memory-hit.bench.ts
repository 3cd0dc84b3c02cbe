import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createCache } from 'cache-manager';
import { CacheMemoize, CacheMemoizeModule, memoryStore } from 'nestjs-cache-memoize';
import { bench, printTable } from './harness';

const HOT_KEYS = 1_000;

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

export async function memoryHitBench(): Promise<void> {
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore({ maxEntries: 10_000 }) } })],
    providers: [UserService],
  }).compile();
  await moduleRef.init();
  const users = moduleRef.get(UserService);
  const noStatsRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore({ maxEntries: 10_000 }) }, stats: false })],
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

  const cm = createCache({ ttl: 3_600_000 }); // cache-manager 7 on its default in-memory Keyv store
  const cmGet = (id: number) => cm.wrap(JSON.stringify(['getUser', id]), () => load(id));

  for (let i = 0; i < HOT_KEYS; i++) {
    await users.getUser(i);
    await usersNoStats.getUser(i);
    await floorGet(i);
    await cmGet(i);
  }

  const results = await bench([
    { name: 'floor: Map.get(JSON.stringify(args))', run: (i) => floorGet(i % HOT_KEYS) },
    { name: '@CacheMemoize hit (memory store)', run: (i) => users.getUser(i % HOT_KEYS) },
    { name: '@CacheMemoize hit, stats: false', run: (i) => usersNoStats.getUser(i % HOT_KEYS) },
    { name: 'cache-manager 7 wrap() hit (memory)', run: (i) => cmGet(i % HOT_KEYS) },
  ]);
  printTable(`memory hit, ${HOT_KEYS} hot keys, sequential awaits`, results, {
    'ours / cache-manager wrap (target >= 1.5)':
      '@CacheMemoize hit (memory store) / cache-manager 7 wrap() hit (memory)',
    'ours / floor (target >= 0.5)': '@CacheMemoize hit (memory store) / floor: Map.get(JSON.stringify(args))',
    'stats on / stats off (cost of stats: keep >= 0.95)':
      '@CacheMemoize hit (memory store) / @CacheMemoize hit, stats: false',
  });
  await moduleRef.close();
  await noStatsRef.close();
}

if (require.main === module) void memoryHitBench();
