/*
 * CacheService (region on a shared store, tags) on two apps: set on A racing set/expire/delete/
 * getOrSet on B and invalidateTags. After all resolve: get on either app is one of the values set
 * (or computed from the database), never the value from before; after delete(), undefined.
 * (Written by a reviewer of the replacement through the key's version; kept.)
 */
import 'reflect-metadata';
import { Test, type TestingModule } from '@nestjs/testing';
import { CacheMemoizeModule, CacheService, InvalidationService, memoryStore, type CacheStore } from '../../lib';
import { settle } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';
import { storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (n = 4) => sleep(Math.floor(Math.random() * n));

async function boot(store: CacheStore, prefix: string) {
  const module: TestingModule = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: memoryStore(), shared: store },
        prefix,
        regions: { long: { ttl: '1h', grace: '10m', store: 'shared' } },
      }),
    ],
  }).compile();
  await module.init();
  return { module, cache: module.get(CacheService).region('long'), inv: module.get(InvalidationService) };
}

const cases = storeCases('redis', 'tiered over redis', 'memcached');

describe.each(cases)('%s', (_n, make) => {
  it('set/expire/delete/getOrSet/invalidateTags races', async () => {
    const prefix = uniquePrefix('csr');
    const a = await boot(make(), prefix);
    const b = await boot(make(), prefix);
    const opts = { tags: ['reports'] };
    const bad: string[] = [];
    try {
      for (let round = 0; round < 40; round++) {
        const key = `r${round % 4}`;
        let db = `old${round}`;
        await a.cache.set(key, db, opts);
        await settle(a.module);
        const written: string[] = [db];
        const kind = round % 3;
        await Promise.all([
          (async () => {
            await jitter();
            db = `A${round}`;
            written.push(db);
            await a.cache.set(key, db, opts);
          })(),
          (async () => {
            await jitter();
            if (kind === 0) await b.cache.expire(key, 60_000).catch(() => undefined);
            else if (kind === 1) {
              db = `B${round}`;
              written.push(db);
              await b.inv.invalidateTags(['reports']);
            } else await b.cache.getOrSet(key, async () => db, opts);
          })(),
        ]);
        const final = db;
        for (const [n, app] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const got = await app.cache.get(key);
          if (got !== undefined && got === `old${round}`)
            bad.push(`round ${round} kind ${kind} ${n}: old value ${got}`);
          if (kind === 1 && got !== undefined && got !== final && got !== `A${round}`)
            bad.push(`round ${round} kind ${kind} ${n}: ${got}`);
        }
        await b.cache.delete(key);
        for (const [n, app] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const got = await app.cache.get(key);
          if (got !== undefined) bad.push(`round ${round} ${n} after delete: ${got}`);
        }
      }
    } finally {
      await a.module.close();
      await b.module.close();
    }
    expect(bad).toEqual([]);
  }, 120_000);
});
