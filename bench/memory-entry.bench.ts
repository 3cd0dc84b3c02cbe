/**
 * Bytes of heap per cached entry, each case in a child process of its own, measured after GC:
 * the values alone (the floor), lru-cache under a JSON key, and a @CacheMemoize method on the
 * memory store, without and with a tags option. Printed as overhead per entry (bytes beyond the
 * values) and as a ratio to lru-cache's overhead. Every case must still hold all its entries at
 * the end (a byte bound that evicted some would make the rest look cheaper). Off-heap bytes
 * (ArrayBuffers allocated during the run) are printed beside the heap's; lru-cache allocates its
 * own when constructed, before the baseline, so they never show.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ENTRIES = 200_000;
const CASES = ['values', 'lru-cache', 'memoize', 'memoize+tags'] as const;
type Case = (typeof CASES)[number];

const value = (i: number) => ({ id: i, name: `user ${i}`, active: i % 2 === 0 });

async function measure(kind: Case): Promise<{ heap: number; offHeap: number }> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
  };
  let keep: unknown;
  let run: () => Promise<unknown>;
  let held = (): number => ENTRIES;
  if (kind === 'values') {
    run = async () => (keep = Array.from({ length: ENTRIES }, (_, i) => value(i)));
  } else if (kind === 'lru-cache') {
    const { LRUCache } = await import('lru-cache');
    const cache = new LRUCache<string, object>({ max: ENTRIES * 2 });
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
  await settle();
  const before = process.memoryUsage();
  await run();
  await settle();
  const after = process.memoryUsage();
  void keep;
  if (held() !== ENTRIES) throw new Error(`${kind}: holds ${held()} of ${ENTRIES} entries`);
  return {
    heap: (after.heapUsed - before.heapUsed) / ENTRIES,
    offHeap: (after.arrayBuffers - before.arrayBuffers) / ENTRIES,
  };
}

export async function memoryEntryBench(): Promise<void> {
  const perEntry = new Map<Case, number>();
  const offHeap = new Map<Case, number>();
  for (const kind of CASES) {
    const child = spawnSync(
      process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', __filename, kind],
      { encoding: 'utf8', env: { ...process.env, TS_NODE_PROJECT: join(__dirname, '../tsconfig.json') } },
    );
    const found = /bytes=([\d.]+) offheap=(-?[\d.]+)/.exec(child.stdout);
    if (found === null) throw new Error(`memory-entry ${kind} failed: ${child.stderr}`);
    perEntry.set(kind, Number(found[1]));
    offHeap.set(kind, Number(found[2]));
  }
  const values = perEntry.get('values')!;
  const lru = perEntry.get('lru-cache')! - values;
  console.log(`\nmemory per entry, ${ENTRIES.toLocaleString('en-US')} small objects (bytes of heap after GC)`);
  for (const kind of CASES) {
    const total = perEntry.get(kind)!;
    const overhead = total - values;
    const ratio =
      kind === 'values' ? '' : `  overhead ${Math.round(overhead)} B, ${(overhead / lru).toFixed(2)}x lru-cache's`;
    const outside = Math.round(offHeap.get(kind)!);
    const extra = outside === 0 ? '' : ` (+${outside} B/entry off-heap)`;
    console.log(`  ${kind.padEnd(14)} ${Math.round(total).toString().padStart(5)} B/entry${ratio}${extra}`);
  }
  console.log("  target: overhead <= 1.5x lru-cache's, with and without tags");
}

if (require.main === module && process.argv[2] !== undefined) {
  void measure(process.argv[2] as Case).then(({ heap, offHeap }) => {
    console.log(`bytes=${heap} offheap=${offHeap}`);
    process.exit(0);
  });
}
