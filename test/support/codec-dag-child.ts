/**
 * Child process for codec-review.spec.ts: one memoized call on Redis whose result shares
 * sub-objects (LEVELS objects, each referencing the next twice: a DAG, no cycle). Prints what the
 * call returned, the cache events of the write, and that the app closed cleanly.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheMemoize, CacheMemoizeModule, redisStore, type CacheEvent } from '../../lib';

type Node = { level: number; left?: Node; right?: Node };
const events: CacheEvent[] = [];

@Injectable()
class Plans {
  runs = 0;
  @CacheMemoize({ ttl: '1h' })
  async plan(levels: number): Promise<Node> {
    this.runs++;
    let node: Node = { level: 0 };
    for (let i = 1; i <= levels; i++) node = { level: i, left: node, right: node }; // shared, not cyclic
    return node;
  }
}

@Module({
  imports: [
    CacheMemoizeModule.forRoot({
      stores: { default: redisStore({ url: process.env.REDIS_URL! }) },
      prefix: process.env.PREFIX!,
      onEvent: (e) => events.push(e),
    }),
  ],
  providers: [Plans],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const plans = app.get(Plans);
  const levels = Number(process.env.LEVELS);
  for (let call = 0; call < 2; call++) {
    const result = await plans.plan(levels);
    process.stdout.write(`returned level ${result.level}\n`);
    // The app keeps serving: ten event-loop turns (the write happens in the background meanwhile).
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 10));
  }
  const kinds = events.filter((e) => e.type === 'uncacheable' || e.type === 'set' || e.type === 'error');
  process.stdout.write(`runs ${plans.runs}; events ${kinds.map((e) => e.type).join(',')}\n`);
  await app.close();
  process.stdout.write('closed\n');
}
void main();
