// An app instance in its own process, driven over stdin/stdout (one JSON command per line), for
// the tests that need two real instances sharing a Redis: tiered store + invalidation bus.
import 'reflect-metadata';
import { createInterface } from 'node:readline';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createClient } from 'redis';
import { CacheMemoize, CacheMemoizeModule, InvalidationService, memoryStore, redisStore, tieredStore } from '../../lib';
import { settle } from './settle';

// argv: redis url, key prefix, client ('ioredis': the store's own; 'node-redis': one passed in).
const [url, prefix, client = 'ioredis'] = process.argv.slice(2);

function l2() {
  if (client === 'ioredis') return redisStore({ url, commandTimeout: 300 });
  const nodeRedis = createClient({ url });
  nodeRedis.connect().catch(() => undefined); // not awaited: the app boots whether Redis is up or not
  return redisStore({ client: nodeRedis, commandTimeout: 300 });
}

@Injectable()
class ProfileService {
  runs = 0;
  @CacheMemoize({ ttl: '5m', tags: (id: number) => [`profile:${id}`] })
  async profile(id: number): Promise<{ id: number; by: number; run: number }> {
    return { id, by: process.pid, run: ++this.runs };
  }
}

@Module({
  imports: [
    CacheMemoizeModule.forRoot({
      stores: {
        default: tieredStore(memoryStore(), l2(), { l1TtlWithoutBus: '500ms' }),
      },
      prefix,
      connectTimeout: '3s',
    }),
  ],
  providers: [ProfileService],
})
class WorkerModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  const profiles = app.get(ProfileService);
  const invalidation = app.get(InvalidationService);
  const reply = (value: unknown) => process.stdout.write(JSON.stringify(value) + '\n');
  reply({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { op: string; id?: number; tag?: string };
    try {
      if (cmd.op === 'get') reply(await profiles.profile(cmd.id!));
      else if (cmd.op === 'invalidate') reply(await invalidation.invalidateTags([cmd.tag!]).then(() => ({ ok: true })));
      else if (cmd.op === 'runs') reply({ runs: profiles.runs });
      else if (cmd.op === 'settle') reply(await settle(app).then(() => ({ ok: true })));
      else if (cmd.op === 'exit') break;
    } catch (error) {
      reply({ error: String(error) });
    }
  }
  await app.close();
  process.exit(0);
}

void main();
