// One app instance of test/integration/fleet-fuzz.spec.ts, in its own process. Commands arrive as
// JSON lines and run concurrently (each reply echoes its `rid`). The "database" is a counter per
// user in Redis (`db:<prefix>:<id>`), read by every computation as a real query would be; every
// write command bumps it first and then tells the cache, each in one of the ways the README offers.
//
// argv: kind ('redis' | 'memcached' | 'tiered' | 'tiered-memcached'), store address (redis url or memcached servers),
// key prefix, redis url of the database.
import 'reflect-metadata';
import { createInterface } from 'node:readline';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Redis from 'ioredis';
import {
  CacheMemoize,
  CacheMemoizeMany,
  CacheMemoizeModule,
  CachePut,
  InvalidationService,
  cacheHandle,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';

const [kind, address, prefix, dbUrl] = process.argv.slice(2);
const db = new Redis(dbUrl, { lazyConnect: false });
const row = (id: number) => `db:${prefix}:${id}`; // not under the cache prefix: clear() removes that
const readDb = async (id: number) => Number((await db.get(row(id))) ?? 0);
const emit = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

function makeStore(): CacheStore {
  if (kind === 'redis') return redisStore({ url: address });
  if (kind === 'memcached') return memcachedStore({ servers: address });
  if (kind === 'tiered') return tieredStore(memoryStore(), redisStore({ url: address }));
  if (kind === 'tiered-memcached') return tieredStore(memoryStore(), memcachedStore({ servers: address }));
  throw new Error(`unknown store kind ${kind}`);
}

type User = { id: number; version: number };
const tags = (id: number) => [`user:${id}`];

@Injectable()
class Users {
  @CacheMemoize({ ttl: '1m', tags, namespace: 'Users.user' })
  async user(id: number): Promise<User> {
    return { id, version: await readDb(id) };
  }

  @CacheMemoizeMany({ ttl: '1m', tags, namespace: 'Users.user' })
  async users(ids: number[]): Promise<User[]> {
    return Promise.all(ids.map(async (id) => ({ id, version: await readDb(id) })));
  }
}

@Injectable()
class Writer {
  /** A write whose result becomes the entry (write-through). */
  @CachePut({ method: [Users, 'user'], args: (id: number) => [id] })
  async put(id: number): Promise<User> {
    return { id, version: await db.incr(row(id)) };
  }
}

@Module({
  imports: [CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix })],
  providers: [Users, Writer],
})
class WorkerModule {}

interface Command {
  rid: number;
  op: string;
  id?: number;
  ids?: number[];
  ms?: number;
}

/** Blocks the event loop (a long synchronous task, a GC pause). */
function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy
  }
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  const users = app.get(Users);
  const writer = app.get(Writer);
  const invalidation = app.get(InvalidationService);
  const handle = cacheHandle(users, 'user');
  emit({ event: 'ready' });

  const run = async (cmd: Command): Promise<unknown> => {
    const id = cmd.id!;
    switch (cmd.op) {
      // Reads: what a caller gets.
      case 'get':
        return { users: [await users.user(id)] };
      case 'many':
        return { users: await users.users(cmd.ids!) };
      case 'refresh':
        return { users: [await handle.refresh(id)] };
      case 'expire':
        return { expired: await handle.expireIn(`${20 + (id % 3) * 10}s`, id) };
      // Writes: the database first, then the cache; the reply is the version written.
      case 'put':
        return { version: (await writer.put(id)).version };
      case 'set': {
        const version = await db.incr(row(id));
        await handle.set({ id, version }, id);
        return { version };
      }
      case 'tag':
      case 'key':
      case 'namespace':
      case 'clear': {
        const version = await db.incr(row(id));
        if (cmd.op === 'tag') await invalidation.invalidateTags(tags(id));
        else if (cmd.op === 'key') await handle.invalidate(id);
        else if (cmd.op === 'namespace') await invalidation.invalidateNamespace('Users');
        else await invalidation.clear();
        return { version };
      }
      case 'stall':
        stall(cmd.ms!);
        return {};
      default:
        throw new Error(`unknown op ${cmd.op}`);
    }
  };

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const cmd = JSON.parse(line) as Command;
    if (cmd.op === 'exit') return lines.close();
    run(cmd).then(
      (reply) => emit({ rid: cmd.rid, ...(reply as object) }),
      (error: unknown) => emit({ rid: cmd.rid, error: String(error) }),
    );
  });
  await new Promise<void>((resolve) => lines.once('close', resolve));
  await app.close();
  db.disconnect();
  process.exit(0);
}

void main();
