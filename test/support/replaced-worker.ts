// A tiered app instance for test/integration/replace-tiered-busy.spec.ts. argv: redis url, prefix, db file.
// Commands (one JSON line each, answered concurrently with their rid):
//   get {id}              -> { value, startedAt }
//   refresh {id}          -> { value, resolvedAt }
//   stallThenGet {id, stallMs, timerMs}: schedules get(id) after timerMs, then blocks the event loop stallMs;
//                          answers { value, startedAt } of that get
//   source {id}           -> where inspect finds it
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheMemoize, CacheMemoizeModule, cacheHandle, memoryStore, redisStore, tieredStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { CacheMemoizeEngine } from '../../lib/nest/cache-memoize.engine';

const [url, prefix, dbFile] = process.argv.slice(2);
const emit = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

function readDb(id: number): string | null {
  const db = JSON.parse(readFileSync(dbFile, 'utf8')) as Record<string, string>;
  return db[String(id)] ?? null;
}

@Injectable()
class Profiles {
  runs = 0;
  @CacheMemoize({ ttl: '10m', cacheIf: (row: string | null) => row !== null })
  async profile(id: number): Promise<string | null> {
    this.runs++;
    return readDb(id);
  }
}

@Module({
  imports: [
    CacheMemoizeModule.forRoot({ stores: { default: tieredStore(memoryStore(), redisStore({ url })) }, prefix }),
  ],
  providers: [Profiles],
})
class WorkerModule {}

function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  const svc = app.get(Profiles);
  const handle = cacheHandle(svc, 'profile');
  const engine = app.get(CacheMemoizeEngine);
  const memoizer = engine.memoizersFor()[0] as Memoizer;
  emit({ event: 'ready' });
  const handleCmd = async (cmd: Record<string, number | string>): Promise<unknown> => {
    const id = Number(cmd.id);
    switch (cmd.op) {
      case 'get': {
        const startedAt = Date.now();
        return { value: await svc.profile(id), startedAt };
      }
      case 'refresh': {
        const value = await handle.refresh(id);
        return { value, resolvedAt: Date.now() };
      }
      case 'invalidate': {
        await handle.invalidate(id);
        return { value: null, resolvedAt: Date.now() };
      }
      case 'source':
        return { source: (await memoizer.inspect(handle.keyOf(id))).source ?? null };
      case 'stallThenGet': {
        const got = new Promise((resolve) =>
          setTimeout(() => {
            const startedAt = Date.now();
            void svc.profile(id).then((value) => resolve({ value, startedAt }));
          }, Number(cmd.timerMs)),
        );
        stall(Number(cmd.stallMs));
        return got;
      }
      default:
        return { error: `unknown op ${String(cmd.op)}` };
    }
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const cmd = JSON.parse(line) as Record<string, number | string>;
    if (cmd.op === 'exit') return lines.close();
    handleCmd(cmd).then(
      (reply) => emit({ rid: cmd.rid, ...(reply as object) }),
      (error: unknown) => emit({ rid: cmd.rid, error: String(error) }),
    );
  });
  await new Promise<void>((resolve) => lines.once('close', resolve));
  await app.close();
  process.exit(0);
}
void main();
