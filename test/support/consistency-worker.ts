// An app instance in its own process for test/integration/consistency.spec.ts. Unlike
// app-worker.ts it runs commands CONCURRENTLY (each carries an `rid` echoed in its reply), so a
// test can start a slow computation and, while it runs, freeze, stall or query the process.
// It also announces, as `{ event: 'started', id, version }` lines, each computation's start.
//
// argv: kind ('redis' | 'memcached' | 'tiered' | 'node-redis' | 'tiered-node-redis'), address (redis url or memcached servers), key
// prefix, path of the JSON "database" file ({ [id]: version }) shared with the test process.
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createClient } from 'redis';
import {
  CacheMemoize,
  CacheMemoizeModule,
  InvalidationService,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';

const [kind, address, prefix, dbFile] = process.argv.slice(2);

const emit = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node-redis client passed in, connecting (not awaited: the app boots either way). */
function nodeRedis(): CacheStore {
  const client = createClient({ url: address });
  client.connect().catch(() => undefined);
  return redisStore({ client });
}

function makeStore(): CacheStore {
  if (kind === 'redis') return redisStore({ url: address });
  if (kind === 'memcached') return memcachedStore({ servers: address });
  if (kind === 'tiered') return tieredStore(memoryStore(), redisStore({ url: address }));
  if (kind === 'node-redis') return nodeRedis();
  if (kind === 'tiered-node-redis') return tieredStore(memoryStore(), nodeRedis());
  throw new Error(`unknown store kind ${kind}`);
}

/** The "database": read at the start of each computation, as a real query would be. */
function readDb(id: number): number {
  const db = JSON.parse(readFileSync(dbFile, 'utf8')) as Record<string, number>;
  return db[String(id)] ?? 0;
}

/** Blocks the event loop (a long synchronous task, a GC pause): nothing else runs meanwhile. */
function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy
  }
}

/** One-shot plans for the next computation of an id: wait, then block the event loop. */
const plans = new Map<number, { delayMs?: number; stallMs?: number }>();

@Injectable()
class UserService {
  runs = 0;

  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`user:${id}`] })
  async getUser(id: number): Promise<{ id: number; version: number; pid: number }> {
    this.runs++;
    const version = readDb(id);
    emit({ event: 'started', id, version });
    const plan = plans.get(id);
    plans.delete(id);
    if (plan?.delayMs) await sleep(plan.delayMs);
    if (plan?.stallMs) stall(plan.stallMs);
    return { id, version, pid: process.pid };
  }
}

@Module({
  imports: [CacheMemoizeModule.forRoot({ stores: { default: makeStore() }, prefix })],
  providers: [UserService],
})
class WorkerModule {}

interface Command {
  rid: number;
  op: 'get' | 'invalidateTags' | 'plan' | 'runs' | 'stall' | 'exit';
  id?: number;
  tags?: string[];
  delayMs?: number;
  stallMs?: number;
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  const users = app.get(UserService);
  const invalidation = app.get(InvalidationService);
  emit({ event: 'ready' });

  const handle = async (cmd: Command): Promise<unknown> => {
    const started = performance.now();
    const ms = () => performance.now() - started;
    switch (cmd.op) {
      case 'get':
        return { value: await users.getUser(cmd.id!), ms: ms() };
      case 'invalidateTags':
        return invalidation.invalidateTags(cmd.tags!).then(
          () => ({ ok: true, ms: ms() }),
          (error: { code?: string; message?: string }) => ({
            ok: false,
            code: error.code,
            error: String(error.message),
            ms: ms(),
          }),
        );
      case 'plan':
        plans.set(cmd.id!, { delayMs: cmd.delayMs, stallMs: cmd.stallMs });
        return { ok: true };
      case 'runs':
        return { runs: users.runs };
      case 'stall':
        stall(cmd.stallMs!);
        return { ok: true };
      default:
        return { error: `unknown op ${String(cmd.op)}` };
    }
  };

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const cmd = JSON.parse(line) as Command;
    if (cmd.op === 'exit') {
      lines.close();
      return;
    }
    handle(cmd).then(
      (reply) => emit({ rid: cmd.rid, ...(reply as object) }),
      (error: unknown) => emit({ rid: cmd.rid, error: String(error) }),
    );
  });
  await new Promise<void>((resolve) => lines.once('close', resolve));
  await app.close();
  process.exit(0);
}

void main();
