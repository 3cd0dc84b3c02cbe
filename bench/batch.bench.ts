import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import DataLoader from 'dataloader';
import Redis from 'ioredis';
import {
  CacheMemoize,
  CacheMemoizeMany,
  CacheMemoizeModule,
  cacheHandle,
  memoryStore,
  redisStore,
  type CacheStore,
} from 'nestjs-cache-memoize';
import { RedisServer } from '../test/support/servers';
import { user } from './fixtures';
import { bench, printTable } from './harness';

/** Ids per call, how many of them are missing from the cache, the pool they are drawn from. */
const LIST = 100;
const MISSING = 10;
const POOL = 2_000;
const DB_LATENCY_MS = 1;

type User = ReturnType<typeof user>;

/**
 * The "database": one query per call (a fixed latency, then the rows read from a Redis standing in
 * for the database server, parsed as a driver would). Counts queries and rows.
 */
class Database {
  queries = 0;
  rows = 0;
  constructor(private readonly client: Redis) {}

  async seed(): Promise<void> {
    const pipeline = this.client.pipeline();
    for (let id = 0; id < POOL; id++) pipeline.set(`db:user:${id}`, JSON.stringify(user(id)));
    await pipeline.exec();
  }

  async users(ids: readonly number[]): Promise<User[]> {
    this.queries++;
    this.rows += ids.length;
    await new Promise((r) => setTimeout(r, DB_LATENCY_MS));
    const rows = await this.client.mget(ids.map((id) => `db:user:${id}`));
    return rows.map((row) => {
      const parsed = JSON.parse(row!) as User & { createdAt: string };
      return { ...parsed, createdAt: new Date(parsed.createdAt) };
    });
  }
}

let db: Database;

@Injectable()
class UsersService {
  @CacheMemoizeMany({ ttl: '1h', namespace: 'Bench.user' })
  async getUsers(ids: number[]): Promise<User[]> {
    return db.users(ids);
  }

  @CacheMemoize({ ttl: '1h', namespace: 'Bench.user' })
  async getUser(id: number): Promise<User> {
    return (await db.users([id]))[0];
  }
}

/** Call i's ids: LIST distinct ids of the pool; MISSING of them evicted first (entries that expired). */
function idsOf(i: number): number[] {
  const start = (i * 7919) % POOL;
  return Array.from({ length: LIST }, (_, k) => (start + k * 13) % POOL);
}

async function batchCase(
  title: string,
  store: CacheStore,
  concurrencies: number[],
  countCommands?: () => Promise<number>,
): Promise<void> {
  Logger.overrideLogger(false);
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: `bb${Date.now().toString(36)}` })],
    providers: [UsersService],
  }).compile();
  await moduleRef.init();
  const users = moduleRef.get(UsersService);
  const handle = cacheHandle(users, 'getUsers');
  for (let start = 0; start < POOL; start += LIST)
    await users.getUsers(Array.from({ length: LIST }, (_, k) => start + k));
  await new Promise((r) => setTimeout(r, 200));

  const evict = (ids: number[]) => store.deleteMany(handle.keysOf(ids.slice(0, MISSING)));
  const cases = {
    batch: async (i: number) => {
      const ids = idsOf(i);
      await evict(ids);
      return users.getUsers(ids);
    },
    sequential: async (i: number) => {
      const ids = idsOf(i);
      await evict(ids);
      const out: User[] = [];
      for (const id of ids) out.push(await users.getUser(id));
      return out;
    },
    concurrent: async (i: number) => {
      const ids = idsOf(i);
      await evict(ids);
      return Promise.all(ids.map((id) => users.getUser(id)));
    },
    dataloader: async (i: number) => {
      const ids = idsOf(i);
      await evict(ids);
      // Per request, as DataLoader is meant to be used: it batches and dedupes, and caches nothing across requests.
      const loader = new DataLoader<number, User>((keys) => db.users(keys));
      return loader.loadMany(ids);
    },
  };
  const names = {
    batch: '@CacheMemoizeMany getUsers(100 ids)',
    sequential: '100 x @CacheMemoize getUser, one by one',
    concurrent: '100 x @CacheMemoize getUser, Promise.all',
    dataloader: 'DataLoader over the database, no cache',
  };

  // Cost per call, measured alone: store commands (beside the eviction) and database work.
  const costs: string[] = [];
  for (const [key, run] of Object.entries(cases)) {
    const calls = 20;
    const before = (await countCommands?.()) ?? 0;
    const [q, r] = [db.queries, db.rows];
    for (let i = 0; i < calls; i++) await run(100_000 + i);
    await new Promise((res) => setTimeout(res, 50));
    const commands = ((await countCommands?.()) ?? 0) - before;
    const storeText = countCommands === undefined ? '' : `${(commands / calls - 1).toFixed(1)} store commands, `;
    costs.push(
      `  ${names[key as keyof typeof names].padEnd(44)} ${storeText}${((db.queries - q) / calls).toFixed(1)} queries, ${((db.rows - r) / calls).toFixed(0)} rows per call`,
    );
  }

  for (const concurrency of concurrencies) {
    const results = await bench(
      Object.entries(cases).map(([key, run]) => ({ name: names[key as keyof typeof names], run })),
      { concurrency, rounds: 7, roundMs: 500 },
    );
    printTable(
      `${title}: ${LIST} ids per call, ${MISSING} of them missing, ${concurrency} concurrent caller(s), database ${DB_LATENCY_MS} ms + rows from Redis`,
      results,
      {
        'batch / single calls one by one (target >= 5)': `${names.batch} / ${names.sequential}`,
        'batch / single calls Promise.all': `${names.batch} / ${names.concurrent}`,
        'batch / DataLoader, no cache': `${names.batch} / ${names.dataloader}`,
      },
    );
  }
  console.log(`  per call (each case alone, 20 calls):\n${costs.join('\n')}`);
  await moduleRef.close();
}

export async function batchBench(): Promise<void> {
  const [dbServer, cacheServer] = await Promise.all([RedisServer.launch(), RedisServer.launch()]);
  const dbClient = new Redis(dbServer.url);
  const stats = new Redis(cacheServer.url);
  try {
    db = new Database(dbClient);
    await db.seed();
    await batchCase('batch, memory store', memoryStore(), [8]);
    const commands = async () => {
      const info = await stats.info('commandstats');
      return [...info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)]
        .filter(([, name]) => name !== 'info')
        .reduce((sum, [, , calls]) => sum + Number(calls), 0);
    };
    await batchCase('batch, redis store', redisStore({ url: cacheServer.url }), [1, 8], commands);
  } finally {
    dbClient.disconnect();
    stats.disconnect();
    await Promise.all([dbServer.stop(), cacheServer.stop()]);
  }
}
