// Before/after in one run: two builds of the library (bench/build-rev.sh) loaded side by side,
// each case measured for both, interleaved, medians reported as after/before ratios.
//   bash bench/build-rev.sh <rev> && bash bench/build-rev.sh && npm run bench -- compare <rev> [memory|tagged|churn|redis|memcached|tiered|cold|http|http-inproc...]
import 'reflect-metadata';
import { join, resolve } from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type * as Lib from 'nestjs-cache-memoize';
import { MemcachedServer, RedisServer } from '../test/support/servers';
import { user } from './fixtures';
import { bench, median, printTable } from './harness';
import type { InprocCase } from './http-inproc';
import { inprocRun, measureHttp, printHttp, startHttpServer } from './http.bench';

type LibModule = typeof Lib;
const KEYS = 1_000;

function load(dir: string): LibModule {
  return require(resolve(dir)) as LibModule;
}

/** A UserService decorated by this build's @CacheMemoize (applied programmatically: two builds, one class shape). */
function userService(
  lib: LibModule,
  ttl: Lib.Duration = '1h',
  tagged = false,
): new () => { getUser(id: number): Promise<ReturnType<typeof user>> } {
  class UserService {
    async getUser(id: number) {
      return user(id);
    }
  }
  const descriptor = Object.getOwnPropertyDescriptor(UserService.prototype, 'getUser')!;
  const tags = tagged ? (id: number) => [`user:${id}`, 'users'] : undefined;
  Reflect.decorate([lib.CacheMemoize({ ttl, tags }) as MethodDecorator], UserService.prototype, 'getUser', descriptor);
  Reflect.decorate([Injectable()], UserService);
  return UserService;
}

async function appOf(
  lib: LibModule,
  store: Lib.CacheStore,
  warm: number,
  prefix: string,
  ttl?: Lib.Duration,
  tagged = false,
) {
  const Svc = userService(lib, ttl, tagged);
  const moduleRef = await Test.createTestingModule({
    imports: [lib.CacheMemoizeModule.forRoot({ stores: { default: store }, prefix })],
    providers: [Svc],
  }).compile();
  await moduleRef.init();
  const users = moduleRef.get(Svc);
  for (let i = 0; i < warm; i++) await users.getUser(i);
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < warm; i++) await users.getUser(i); // tiered: fills L1 from L2
  // Tagged: an unrelated invalidation since, so every hit is judged by its tags, not waved through.
  if (tagged) await moduleRef.get(lib.InvalidationService).invalidateTags(['unrelated']);
  return { moduleRef, users };
}

async function hitCase(
  title: string,
  before: LibModule,
  after: LibModule,
  make: (lib: LibModule) => Lib.CacheStore,
  concurrency: number,
  tagged = false,
  churn = false,
): Promise<void> {
  const a = await appOf(before, make(before), KEYS, `cmpb${Date.now() % 1e6}`, undefined, tagged);
  const b = await appOf(after, make(after), KEYS, `cmpa${Date.now() % 1e6}`, undefined, tagged);
  // churn: an unrelated invalidation every KEYS calls, so every hit is judged again (the worst case).
  const call = (app: typeof a, lib: LibModule) =>
    churn
      ? (i: number) =>
          i % KEYS === 0
            ? app.moduleRef
                .get(lib.InvalidationService)
                .invalidateTags(['unrelated'])
                .then(() => app.users.getUser(i % KEYS))
            : app.users.getUser(i % KEYS)
      : (i: number) => app.users.getUser(i % KEYS);
  const results = await bench(
    [
      { name: 'before', run: call(a, before) },
      { name: 'after', run: call(b, after) },
    ],
    { concurrency, rounds: 11, roundMs: 500 },
  );
  printTable(`${title} (${concurrency} concurrent caller${concurrency > 1 ? 's' : ''})`, results, {
    'after / before': 'after / before',
  });
  await a.moduleRef.close();
  await b.moduleRef.close();
}

/** Every call a new key: lookup miss, (after: version read), computation, write. */
async function coldMissCase(before: LibModule, after: LibModule, url: string): Promise<void> {
  const a = await appOf(before, before.redisStore({ url }), 0, `cmcb${Date.now() % 1e6}`);
  const b = await appOf(after, after.redisStore({ url }), 0, `cmca${Date.now() % 1e6}`);
  let n = 0;
  const results = await bench(
    [
      { name: 'before', run: () => a.users.getUser(n++) },
      { name: 'after', run: () => b.users.getUser(n++) },
    ],
    { concurrency: 100 },
  );
  printTable('redis cold misses, a new key per call (100 concurrent callers)', results, {
    'after / before': 'after / before',
  });
  await a.moduleRef.close();
  await b.moduleRef.close();
}

/** Both builds served on Express, then on Fastify: cached trivial GET, uncached control, cached 8 KB JSON. */
async function httpCase(beforeDir: string, afterDir: string): Promise<void> {
  for (const adapter of ['express', 'fastify'] as const) {
    const before = await startHttpServer('ours', adapter, resolve(beforeDir));
    const after = await startHttpServer('ours', adapter, resolve(afterDir));
    try {
      const results = await measureHttp([
        { name: 'before cached /cached', port: before.port, path: '/cached' },
        { name: 'after cached /cached', port: after.port, path: '/cached' },
        { name: 'before uncached /plain', port: before.port, path: '/plain' },
        { name: 'after uncached /plain', port: after.port, path: '/plain' },
        { name: 'before cached 8 KB /big', port: before.port, path: '/big' },
        { name: 'after cached 8 KB /big', port: after.port, path: '/big' },
      ]);
      printHttp(`HTTP on ${adapter}, 50 connections x 4 pipelined, median of 5 x 3 s`, results, {
        'cached trivial after / before': 'after cached /cached / before cached /cached',
        'cached 8 KB after / before': 'after cached 8 KB /big / before cached 8 KB /big',
        'uncached control after / before': 'after uncached /plain / before uncached /plain',
        'before: cached / uncached': 'before cached /cached / before uncached /plain',
        'after: cached / uncached': 'after cached /cached / after uncached /plain',
      });
    } finally {
      before.child.kill();
      after.child.kill();
    }
  }
}

const INPROC_COMPARE: InprocCase[] = [
  { name: 'uncached /plain', app: 'ours', path: '/plain' }, // first: the reference of each round
  { name: 'cached /cached', app: 'ours', path: '/cached' },
  { name: 'of(body) interceptor', app: 'ours', path: '/constant' },
  { name: 'cached 8 KB /big', app: 'ours', path: '/big' },
];

/**
 * Each build in its own child process (bench/http-inproc.ts), alternating, three each per adapter:
 * every ratio is taken within one child against the same build's uncached route, then the
 * builds' ratios are compared (a child's ratios do not drift with the machine, its ops/s do).
 */
async function httpInprocCase(beforeDir: string, afterDir: string): Promise<void> {
  for (const adapter of ['express', 'fastify'] as const) {
    const runs: Record<'before' | 'after', Array<Record<string, number>>> = { before: [], after: [] };
    for (let i = 0; i < 3; i++)
      for (const which of i % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const))
        runs[which].push(await inprocRun(adapter, resolve(which === 'before' ? beforeDir : afterDir), INPROC_COMPARE));
    console.log(`\nHTTP on ${adapter}, in process, each build in 3 child processes: each case / the uncached route`);
    for (const c of INPROC_COMPARE.slice(1)) {
      const ratio = (m: Record<string, number>) => m['uncached /plain'] / m[c.name];
      const [b, a] = [runs.before.map(ratio), runs.after.map(ratio)];
      const show = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
      console.log(
        `  ${c.name.padEnd(22)} before ${show(b)} (median ${median(b).toFixed(2)}x)  after ${show(a)} (median ${median(a).toFixed(2)}x)  after / before ${(median(a) / median(b)).toFixed(2)}x`,
      );
    }
  }
}

export async function compareBench(args: string[]): Promise<void> {
  const [rev, ...only] = args;
  const wanted = (name: string) => only.length === 0 || only.includes(name);
  if (rev === undefined)
    throw new Error(
      'usage: npm run bench -- compare <rev> (after bash bench/build-rev.sh <rev> and bash bench/build-rev.sh)',
    );
  const beforeDir = join(__dirname, `../.tmp/build-${rev}/dist`);
  const afterDir = join(__dirname, '../.tmp/build-current/dist');
  const before = load(beforeDir);
  const after = load(afterDir);
  Logger.overrideLogger(false);
  console.log(`before: ${rev}, after: the working tree`);
  const redis = await RedisServer.launch();
  const memcached = await MemcachedServer.launch();
  try {
    const cases: Array<[string, () => Promise<void>]> = [
      [
        'memory',
        () => hitCase('memory hit, 1,000 hot keys', before, after, (lib) => lib.memoryStore({ maxEntries: 10_000 }), 1),
      ],
      [
        'tagged',
        () =>
          hitCase(
            'memory hit, per-id tags, after an unrelated invalidation',
            before,
            after,
            (lib) => lib.memoryStore({ maxEntries: 10_000 }),
            1,
            true,
          ),
      ],
      [
        'churn',
        () =>
          hitCase(
            'memory hit, per-id tags, an unrelated invalidation every 1,000 calls (every hit judged by its tags)',
            before,
            after,
            (lib) => lib.memoryStore({ maxEntries: 10_000 }),
            1,
            true,
            true,
          ),
      ],
      [
        'redis',
        () => hitCase('redis hit, 1,000 keys', before, after, (lib) => lib.redisStore({ url: redis.url }), 100),
      ],
      [
        'memcached',
        () =>
          hitCase(
            'memcached hit, 1,000 keys',
            before,
            after,
            (lib) => lib.memcachedStore({ servers: memcached.address }),
            100,
          ),
      ],
      [
        'tiered',
        () =>
          hitCase(
            'tiered L1 hit, 1,000 keys',
            before,
            after,
            (lib) => lib.tieredStore(lib.memoryStore(), lib.redisStore({ url: redis.url })),
            1,
          ),
      ],
      ['cold', () => coldMissCase(before, after, redis.url)],
      ['http', () => httpCase(beforeDir, afterDir)],
      ['http-inproc', () => httpInprocCase(beforeDir, afterDir)],
      ['batch-delegate', () => batchDelegateCase(before, after)],
      ['encode', () => encodeCase(before, after)],
    ];
    for (const [name, run] of cases) if (wanted(name)) await run();
  } finally {
    await redis.stop();
    await memcached.stop();
  }
}

/**
 * A cold @CacheMemoizeMany call whose load calls the single method of its namespace per id (the
 * delegation the README shows), on the memory store: microseconds per id at 2,000 and 20,000 ids.
 * Linear work keeps the two equal; each nested call scanning the batch's keys grows with the size.
 */
async function batchDelegateCase(before: LibModule, after: LibModule): Promise<void> {
  const perId = async (lib: LibModule, size: number): Promise<number> => {
    class Items {
      async many(ids: number[]): Promise<number[]> {
        return Promise.all(ids.map((id) => this.one(id)));
      }
      async one(id: number): Promise<number> {
        return id * 3;
      }
    }
    for (const [name, decorator] of [
      ['many', lib.CacheMemoizeMany({ ttl: '1h', namespace: 'Items.item' })],
      ['one', lib.CacheMemoize({ ttl: '1h', namespace: 'Items.item' })],
    ] as const) {
      const descriptor = Object.getOwnPropertyDescriptor(Items.prototype, name)!;
      Object.defineProperty(
        Items.prototype,
        name,
        Reflect.decorate([decorator as MethodDecorator], Items.prototype, name, descriptor) as PropertyDescriptor,
      );
    }
    Reflect.decorate([Injectable()], Items);
    const moduleRef = await Test.createTestingModule({
      imports: [lib.CacheMemoizeModule.forRoot({ stores: { default: lib.memoryStore({ maxEntries: 100_000 }) } })],
      providers: [Items],
    }).compile();
    await moduleRef.init();
    const ids = Array.from({ length: size }, (_, i) => i);
    const started = performance.now();
    await moduleRef.get(Items).many(ids);
    const us = ((performance.now() - started) * 1000) / size;
    await moduleRef.close();
    return us;
  };
  console.log('\nbatch delegating to its single method per id, cold, memory store: microseconds per id');
  for (const size of [2_000, 20_000]) {
    const b: number[] = [];
    const a: number[] = [];
    for (let round = 0; round < 3; round++) {
      b.push(await perId(before, size));
      a.push(await perId(after, size));
    }
    const [mb, ma] = [median(b), median(a)];
    console.log(
      `  ${String(size).padStart(6)} ids   before ${mb.toFixed(1).padStart(8)} us   after ${ma.toFixed(1).padStart(8)} us   after / before ${(ma / mb).toFixed(2)}x`,
    );
  }
}

/**
 * The write path's CPU work on values of three sizes, without a server: the default codec's
 * encode (what every shared-store write does) and a memory store put (its size estimate).
 */
async function encodeCase(before: LibModule, after: LibModule): Promise<void> {
  const page = { items: Array.from({ length: 50 }, (_, i) => user(i)), total: 50 };
  const rows = Array.from({ length: 40_000 }, (_, i) => ({ id: i, name: `row ${i}`, tags: ['a', 'b'] }));
  for (const [label, value, rounds] of [
    ['user', user(1), 7],
    ['page of 50 users', page, 7],
    ['40,000 rows (120,000 objects)', rows, 5],
  ] as const) {
    const stores = [before.memoryStore(), after.memoryStore()];
    const results = await bench(
      [
        { name: 'encode before', run: () => before.taggedJsonSerializer.encode(value) },
        { name: 'encode after', run: () => after.taggedJsonSerializer.encode(value) },
        { name: 'memory put before', run: (i) => stores[0].put(`k${i % 100}`, value, 60_000) },
        { name: 'memory put after', run: (i) => stores[1].put(`k${i % 100}`, value, 60_000) },
      ],
      { rounds, roundMs: 200 },
    );
    printTable(`encode / memory put, ${label}`, results, {
      'encode after / before': 'encode after / encode before',
      'memory put after / before': 'memory put after / memory put before',
    });
  }
}
