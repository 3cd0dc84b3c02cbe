import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeModule, memoryStore, redisStore, type CacheStore } from 'nestjs-cache-memoize';
import { RedisServer } from '../test/support/servers';

@Injectable()
class ReportService {
  runs = 0;
  @CacheMemoize({ ttl: '1h', lock: true })
  async build(id: number): Promise<{ id: number; rows: number[] }> {
    this.runs++;
    await new Promise((r) => setTimeout(r, 50)); // the expensive part
    return { id, rows: [1, 2, 3] };
  }
}

/** 10,000 concurrent cold calls in one process: how many runs, and how long until all have a value. */
export async function stampedeBench(): Promise<void> {
  const server = await RedisServer.launch();
  Logger.overrideLogger(false);
  try {
    console.log('\nstampede: 10,000 concurrent calls on one cold key (method takes 50 ms)');
    for (const [name, store] of [
      ['memory', memoryStore()],
      ['redis (lock: true)', redisStore({ url: server.url })],
    ] as Array<[string, CacheStore]>) {
      const app = await Test.createTestingModule({
        imports: [CacheMemoizeModule.forRoot({ stores: { default: store } })],
        providers: [ReportService],
      }).compile();
      await app.init();
      const svc = app.get(ReportService);
      const started = performance.now();
      const values = await Promise.all(Array.from({ length: 10_000 }, () => svc.build(1)));
      const ms = performance.now() - started;
      console.log(
        `  ${name.padEnd(20)} runs: ${svc.runs}, all 10,000 served in ${ms.toFixed(1)} ms (method alone: 50 ms), ${values.length} values`,
      );
      await app.close();
    }
  } finally {
    await server.stop();
  }
}
