/*
 * refresh() on A with lock / grace / result tags, racing on B a database write + invalidation
 * (tag, result tag, key: @CacheEvict after) and a locked/grace read. After both resolve, reads on
 * A and B must equal the database (never a value from before the write).
 * (Written by a reviewer of the replacement through the key's version; kept.)
 */
import type { CachePolicy, CallScope } from '../../lib/types/policy';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { memoizersOf, storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (n = 4) => sleep(Math.floor(Math.random() * n));

const cases = storeCases('redis', 'tiered over redis', 'memcached');
const variants = ['lock', 'grace', 'resultTags', 'lock+grace'] as const;

describe.each(cases)('%s', (_n, make) => {
  const memoizer = memoizersOf(make);
  it.each(variants)(
    'refresh with %s vs write + invalidation',
    async (variant) => {
      const prefix = uniquePrefix('rlg');
      const mk = () => memoizer(prefix);
      const a = await mk();
      const b = await mk();
      const tag = `${prefix}:~t:x`;
      const rtag = `${prefix}:~t:r`;
      const grace = variant.includes('grace');
      const policy: CachePolicy = testPolicy({
        ttlMs: grace ? 30 : 600_000,
        graceMs: grace ? 600_000 : 0,
        deps: [tag],
        lock: variant.includes('lock') ? { waitMs: 2_000, ttlMs: 5_000 } : undefined,
      });
      const scope: CallScope | undefined = variant === 'resultTags' ? { resultDeps: () => [rtag] } : undefined;
      let db = '';
      const bad: string[] = [];
      for (let round = 0; round < 25; round++) {
        const key = `${prefix}:k${round % 5}`;
        db = `old${round}`;
        await a.invalidateKeys([key]);
        await a.getOrSet(key, async () => db, policy, scope);
        if (grace) await sleep(35); // the entry is now within grace
        const kind = round % 3;
        const r = (async () => {
          await jitter();
          await a.refresh(
            key,
            async () => {
              const v = db;
              await jitter(6);
              return v;
            },
            policy,
            scope,
          );
        })();
        const w = (async () => {
          await jitter();
          db = `new${round}`;
          if (kind === 0) await b.invalidateKeys([key]);
          else if (kind === 1) await b.invalidateDeps([variant === 'resultTags' ? rtag : tag]);
          else await b.invalidateDeps([tag]);
        })();
        const reader = (async () => {
          await jitter(6);
          await b.getOrSet(key, async () => (await jitter(), db), policy, scope).catch(() => undefined);
        })();
        await Promise.all([r, w, reader]);
        const expected = db;
        for (const [n, m] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const got = await m.getOrSet(key, async () => db, policy, scope);
          if (got !== expected) bad.push(`round ${round} kind ${kind} ${n}: ${got} (db ${expected})`);
        }
      }
      expect(bad).toEqual([]);
    },
    120_000,
  );
});
