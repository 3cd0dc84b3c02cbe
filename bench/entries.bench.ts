import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import {
  CacheMemoize,
  CacheMemoizeModule,
  cacheHandle,
  redisStore,
  type CacheMemoizeModuleOptions,
} from 'nestjs-cache-memoize';
import { RedisServer } from '../test/support/servers';
import { bench, printTable } from './harness';

/* Signed and compressed entries on Redis: bytes stored and hit ops/s for a ~50 KB JSON value. */

const KEYS = 50;
const CONCURRENCY = 20;

/** A ~50 KB report: repetitive like real JSON (field names, similar strings). */
const report = (id: number) => ({
  id,
  generatedAt: new Date(1_700_000_000_000).toISOString(),
  rows: Array.from({ length: 500 }, (_, n) => ({
    n,
    sku: `SKU-${id}-${n.toString().padStart(5, '0')}`,
    title: `Product ${n} of report ${id}`,
    price: Math.round(((n * 7919) % 10_000) * 1.13) / 100,
    tags: ['catalog', n % 2 ? 'odd' : 'even'],
  })),
});

@Injectable()
class Reports {
  @CacheMemoize({ ttl: '1h' })
  async report(id: number): Promise<ReturnType<typeof report>> {
    return report(id);
  }
}

async function variant(url: string, prefix: string, options: Partial<CacheMemoizeModuleOptions>) {
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: redisStore({ url }) }, prefix, ...options })],
    providers: [Reports],
  }).compile();
  await moduleRef.init();
  const reports = moduleRef.get(Reports);
  for (let i = 0; i < KEYS; i++) await reports.report(i);
  await new Promise((r) => setTimeout(r, 200));
  return { moduleRef, reports };
}

export async function entriesBench(): Promise<void> {
  Logger.overrideLogger(false);
  const server = await RedisServer.launch();
  const client = new Redis(server.url);
  const secret = 'bench-secret-of-some-length';
  try {
    const variants: Array<[string, Partial<CacheMemoizeModuleOptions>]> = [
      ['plain', {}],
      ['signed', { secret }],
      ['brotli', { compress: { algorithm: 'brotli' } }],
      ['gzip', { compress: { algorithm: 'gzip' } }],
      ['brotli + signed', { compress: { algorithm: 'brotli' }, secret }],
    ];
    const apps = [];
    console.log(`\nbytes stored per ~${Math.round(JSON.stringify(report(0)).length / 1024)} KB JSON value`);
    for (const [name, options] of variants) {
      const app = await variant(server.url, `e${apps.length}`, options);
      apps.push({ name, ...app });
      const bytes = (await client.getBuffer(cacheHandle(app.reports, 'report').keyOf(0)))?.length ?? 0;
      console.log(`  ${name.padEnd(44)} ${bytes.toLocaleString('en-US').padStart(12)} bytes`);
    }
    const results = await bench(
      apps.map((a) => ({ name: a.name, run: (i: number) => a.reports.report(i % KEYS) })),
      { concurrency: CONCURRENCY },
    );
    printTable(`redis hit, ~50 KB value, ${KEYS} keys, ${CONCURRENCY} concurrent callers`, results, {
      'signed / plain': 'signed / plain',
      'brotli / plain': 'brotli / plain',
      'gzip / plain': 'gzip / plain',
      'brotli + signed / plain': 'brotli + signed / plain',
    });
    for (const a of apps) await a.moduleRef.close();
  } finally {
    client.disconnect();
    await server.stop();
  }
}
