// One process of test/integration/fleet-fuzz.spec.ts's fleet: one Nest app per store under test
// (so the fleet is started once for every store). Commands arrive as JSON lines, name their app,
// and run concurrently (each reply echoes its `rid`). The "database" is a counter per app and user
// in Redis (`db:<prefix>:<app>:<id>`), read by every computation as a real query would be; every
// write command bumps it first and then tells the cache, each in one of the ways the README offers.
//
// argv: key prefix, redis url of the database, JSON list of { name, kind, address } (kind: 'redis' |
// 'memcached' | 'tiered' | 'tiered-memcached'; address: a redis url or memcached servers).
import 'reflect-metadata';
import { createInterface } from 'node:readline';
import { Inject, Injectable, Module, type Type } from '@nestjs/common';
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

/** One app per store the fleet fuzz runs on: each has its own prefix and its own database rows. */
interface AppSpec {
  name: string;
  kind: string;
  address: string;
}
const [prefix, dbUrl, specs] = process.argv.slice(2);
const db = new Redis(dbUrl, { lazyConnect: false });
const emit = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

function makeStore({ kind, address }: AppSpec): CacheStore {
  if (kind === 'redis') return redisStore({ url: address });
  if (kind === 'memcached') return memcachedStore({ servers: address });
  if (kind === 'tiered') return tieredStore(memoryStore(), redisStore({ url: address }));
  if (kind === 'tiered-memcached') return tieredStore(memoryStore(), memcachedStore({ servers: address }));
  throw new Error(`unknown store kind ${kind}`);
}

type User = { id: number; version: number };
const tags = (id: number) => [`user:${id}`];

/** The database rows of one app: a counter per user, not under the cache prefix (clear() removes that). */
@Injectable()
class Rows {
  constructor(@Inject('ROWS') private readonly name: string) {}
  private row(id: number): string {
    return `db:${prefix}:${this.name}:${id}`;
  }
  async read(id: number): Promise<number> {
    return Number((await db.get(this.row(id))) ?? 0);
  }
  bump(id: number): Promise<number> {
    return db.incr(this.row(id));
  }
}

@Injectable()
class Users {
  constructor(private readonly rows: Rows) {}

  @CacheMemoize({ ttl: '1m', tags, namespace: 'Users.user' })
  async user(id: number): Promise<User> {
    return { id, version: await this.rows.read(id) };
  }

  @CacheMemoizeMany({ ttl: '1m', tags, namespace: 'Users.user' })
  async users(ids: number[]): Promise<User[]> {
    return Promise.all(ids.map(async (id) => ({ id, version: await this.rows.read(id) })));
  }
}

@Injectable()
class Writer {
  constructor(private readonly rows: Rows) {}

  /** A write whose result becomes the entry (write-through). */
  @CachePut({ method: [Users, 'user'], args: (id: number) => [id] })
  async put(id: number): Promise<User> {
    return { id, version: await this.rows.bump(id) };
  }
}

function moduleFor(spec: AppSpec): Type {
  @Module({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: makeStore(spec) }, prefix: `${prefix}${spec.name}` })],
    providers: [Users, Writer, Rows, { provide: 'ROWS', useValue: spec.name }],
  })
  class WorkerModule {}
  return WorkerModule;
}

interface Command {
  rid: number;
  app: string;
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

const closing: Array<() => Promise<void>> = [];

async function main(): Promise<void> {
  const apps = new Map<string, { users: Users; writer: Writer; rows: Rows; invalidation: InvalidationService }>();
  for (const spec of JSON.parse(specs) as AppSpec[]) {
    const app = await NestFactory.createApplicationContext(moduleFor(spec), { logger: false });
    closing.push(() => app.close());
    const [users, writer, rows] = [app.get(Users), app.get(Writer), app.get(Rows)];
    apps.set(spec.name, { users, writer, rows, invalidation: app.get(InvalidationService) });
  }
  emit({ event: 'ready' });

  const run = async (cmd: Command): Promise<unknown> => {
    const id = cmd.id!;
    const { users, writer, rows, invalidation } = apps.get(cmd.app)!;
    const handle = cacheHandle(users, 'user');
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
        const version = await rows.bump(id);
        await handle.set({ id, version }, id);
        return { version };
      }
      case 'tag':
      case 'key':
      case 'namespace':
      case 'clear': {
        const version = await rows.bump(id);
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
  for (const close of closing) await close();
  db.disconnect();
  process.exit(0);
}

void main();
