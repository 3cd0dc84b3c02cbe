/*
 * @CachePut (put) on A racing refresh()/set() of the same key on B, plus a slow computation on A
 * that started before both (reading the old row). After all resolve, reads on both instances:
 * refresh variant: must equal the database; set variant: one of the two written; then a key
 * invalidation, after which neither instance may serve any earlier value.
 * (Written by a reviewer of the replacement through the key's version; kept.)
 */
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { memoizersOf, storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (n = 4) => sleep(Math.floor(Math.random() * n));

const cases = storeCases('redis', 'tiered over redis', 'memcached');

describe.each(cases)('%s', (_n, make) => {
  const memoizer = memoizersOf(make);
  it.each(['refresh', 'set'])(
    'put on A vs %s on B vs slow computation',
    async (kind) => {
      const prefix = uniquePrefix('prr');
      const mk = () => memoizer(prefix);
      const a = await mk();
      const b = await mk();
      const tag = `${prefix}:~t:x`;
      const policy = testPolicy({ ttlMs: 600_000, deps: [tag] });
      let db = '';
      const bad: string[] = [];
      for (let round = 0; round < 40; round++) {
        const key = `${prefix}:k${round % 5}`;
        db = `old${round}`;
        await a.invalidateKeys([key]);
        expect(await b.getOrSet(key, async () => db, policy)).toBe(db);
        expect(await a.getOrSet(key, async () => db, policy)).toBe(db);
        await a.invalidateKeys([key]); // a miss, so the slow computation runs
        const slow = a.getOrSet(
          key,
          async () => {
            const v = db;
            await sleep(15 + Math.random() * 10);
            return v;
          },
          policy,
        );
        await jitter();
        const written: string[] = [];
        const p = (async () => {
          await jitter();
          await a.put(
            key,
            async () => {
              await jitter();
              db = `put${round}`;
              written.push(db);
              return db;
            },
            policy,
          );
        })();
        const r = (async () => {
          await jitter();
          if (kind === 'refresh')
            await b.refresh(
              key,
              async () => {
                const v = db;
                await jitter();
                written.push(v);
                return v;
              },
              policy,
            );
          else {
            const v = `set${round}`;
            written.push(v);
            await b.refresh(key, () => v, policy);
          }
        })();
        await Promise.all([p, r, slow]);
        for (const [n, m] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const got = await m.getOrSet(key, async () => `computed${round}`, policy);
          if (kind === 'refresh' && got !== db && got !== `computed${round}`)
            bad.push(`round ${round} ${n}: ${got} (db ${db})`);
          if (kind === 'set' && !written.includes(got) && got !== `computed${round}`)
            bad.push(`round ${round} ${n}: ${got} (written ${written})`);
        }
        await b.invalidateKeys([key]);
        for (const [n, m] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const got = await m.getOrSet(key, async () => `after${round}`, policy);
          if (got !== `after${round}`) bad.push(`round ${round} ${n} after invalidation: ${got}`);
          await m.invalidateKeys([key]);
        }
      }
      expect(bad).toEqual([]);
    },
    120_000,
  );
});
