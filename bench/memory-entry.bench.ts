/**
 * Bytes per cached entry, each case in a child process of its own, measured after GC: the values
 * alone (the floor), lru-cache under a JSON key, and a @CacheMemoize method on the memory store,
 * without and with a per-id tags option. Two measures, each as overhead per entry (bytes beyond
 * the values) and as a ratio to lru-cache's:
 * - heap: the heap the entries add once the cache exists (issue #17's measure; lru-cache's
 *   arrays, allocated when it is constructed, are not counted, nor the store's columns, which
 *   live outside the heap);
 * - all: heap and ArrayBuffers together, from before the cache was constructed: every byte either
 *   side needs for these entries. lru-cache gets its tightest setting, `max` = the entry count
 *   and no ttl (it allocates its arrays for `max` entries up front).
 * Every case must still hold all its entries at the end (a bound that evicted some would make the
 * rest look cheaper).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ENTRIES = 200_000;
const CASES = ['values', 'lru-cache', 'memoize', 'memoize+tags'] as const;
type Case = (typeof CASES)[number];
interface Measured {
  heap: number;
  all: number;
}

const value = (i: number) => ({ id: i, name: `user ${i}`, active: i % 2 === 0 });

async function measure(kind: Case): Promise<Measured> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    return process.memoryUsage();
  };
  let keep: unknown;
  let build: () => Promise<void> = async () => undefined;
  let run: () => Promise<unknown>;
  let held = (): number => ENTRIES;
  if (kind === 'values') {
    run = async () => (keep = Array.from({ length: ENTRIES }, (_, i) => value(i)));
  } else if (kind === 'lru-cache') {
    const { LRUCache } = await import('lru-cache');
    let cache!: InstanceType<typeof LRUCache<string, object>>;
    build = async () => {
      cache = new LRUCache<string, object>({ max: ENTRIES });
    };
    run = async () => {
      for (let i = 0; i < ENTRIES; i++) cache.set(JSON.stringify(['getUser', i]), value(i));
      keep = cache;
    };
    held = () => cache.size;
  } else {
    require('reflect-metadata');
    const { Injectable, Logger } = await import('@nestjs/common');
    const { Test } = await import('@nestjs/testing');
    const lib = await import('nestjs-cache-memoize');
    Logger.overrideLogger(false);
    const tagged = kind === 'memoize+tags';
    @Injectable()
    class UserService {
      @lib.CacheMemoize({ ttl: '1h', tags: tagged ? (id: number) => [`user:${id}`] : undefined })
      async getUser(id: number) {
        return value(id);
      }
    }
    const store = lib.memoryStore({ maxEntries: ENTRIES * 2, maxBytes: 2 ** 31 });
    const app = await Test.createTestingModule({
      imports: [lib.CacheMemoizeModule.forRoot({ stores: { default: store } })],
      providers: [UserService],
    }).compile();
    await app.init();
    const users = app.get(UserService);
    await users.getUser(-1); // warm: the module's own structures exist before the baseline
    run = async () => {
      for (let i = 0; i < ENTRIES; i++) await users.getUser(i);
      keep = app;
    };
    held = () => store.size - 1; // the warm-up entry
  }
  const empty = await settle();
  await build();
  const built = await settle();
  await run();
  const after = await settle();
  void keep;
  if (held() !== ENTRIES) throw new Error(`${kind}: holds ${held()} of ${ENTRIES} entries`);
  return {
    heap: (after.heapUsed - built.heapUsed) / ENTRIES,
    all: (after.heapUsed + after.arrayBuffers - empty.heapUsed - empty.arrayBuffers) / ENTRIES,
  };
}

export async function memoryEntryBench(): Promise<void> {
  const measured = new Map<Case, Measured>();
  for (const kind of CASES) {
    const child = spawnSync(
      process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', __filename, kind],
      { encoding: 'utf8', env: { ...process.env, TS_NODE_PROJECT: join(__dirname, '../tsconfig.json') } },
    );
    const found = /heap=(-?[\d.]+) all=(-?[\d.]+)/.exec(child.stdout);
    if (found === null) throw new Error(`memory-entry ${kind} failed: ${child.stderr}`);
    measured.set(kind, { heap: Number(found[1]), all: Number(found[2]) });
  }
  const values = measured.get('values')!;
  const lru = measured.get('lru-cache')!;
  const over = (m: Measured, k: keyof Measured) => m[k] - values[k];
  console.log(
    `\nmemory per entry, ${ENTRIES.toLocaleString('en-US')} small objects (bytes after GC, beyond the values' ${Math.round(values.all)} B)`,
  );
  for (const kind of CASES) {
    if (kind === 'values') continue;
    const m = measured.get(kind)!;
    const heap = over(m, 'heap');
    const all = over(m, 'all');
    const ratio = (mine: number, k: keyof Measured) => (mine / over(lru, k)).toFixed(2);
    console.log(
      `  ${kind.padEnd(13)} heap ${Math.round(heap).toString().padStart(4)} B, ${ratio(heap, 'heap')}x lru-cache's` +
        `   all ${Math.round(all).toString().padStart(4)} B, ${ratio(all, 'all')}x lru-cache's`,
    );
  }
  console.log("  target: overhead <= 1.5x lru-cache's, with and without tags");
}

if (require.main === module && process.argv[2] !== undefined) {
  void measure(process.argv[2] as Case).then(({ heap, all }) => {
    console.log(`heap=${heap} all=${all}`);
    process.exit(0);
  });
}
