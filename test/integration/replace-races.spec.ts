/*
 * refresh() on instance A racing a write + invalidation (key, tag, clear) on B, then a refresh
 * chain, a hundred-odd rounds each (written by a reviewer against the replacement through the
 * key's version). After both resolve, a read on either instance must never return the value
 * from before the write.
 */
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { memoizersOf, storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = () => sleep(Math.floor(Math.random() * 4));

const cases = storeCases('redis', 'tiered over redis', 'memcached');

describe.each(cases)('%s', (_n, make) => {
  const memoizer = memoizersOf(make);
  it.each(['key', 'tag', 'clear'])(
    'refresh on A vs write + invalidate %s on B',
    async (kind) => {
      const prefix = uniquePrefix('rri');
      const mk = () => memoizer(prefix);
      const a = await mk();
      const b = await mk();
      const tag = `${prefix}:~t:x`;
      const allDep = `${prefix}:~all`;
      const policy = testPolicy({ ttlMs: 600_000, deps: [tag, allDep] });
      let db = '';
      const bad: string[] = [];
      for (let round = 0; round < 120; round++) {
        const key = `${prefix}:k${round % 7}`;
        db = `old${round}`;
        await a.invalidateKeys([key]);
        expect(await b.getOrSet(key, async () => db, policy)).toBe(db);
        expect(await a.getOrSet(key, async () => db, policy)).toBe(db);
        const r = (async () => {
          await jitter();
          await a.refresh(
            key,
            async () => {
              const v = db;
              await jitter();
              return v;
            },
            policy,
          );
        })();
        const w = (async () => {
          await jitter();
          db = `new${round}`;
          if (kind === 'key') await b.invalidateKeys([key]);
          else if (kind === 'tag') await b.invalidateDeps([tag]);
          else await b.clear(`${prefix}:`, allDep);
        })();
        await Promise.all([r, w]);
        for (const [n, m] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const got = await m.getOrSet(key, async () => db, policy);
          if (got !== db) bad.push(`round ${round} ${n}: ${got} (db ${db})`);
        }
      }
      expect(bad).toEqual([]);
    },
    120_000,
  );
});
