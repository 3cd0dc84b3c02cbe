/*
 * A refresh and a @CachePut of one key on the same instance. The refresh started after the put
 * but read the row before the put's method wrote it; the put's move of the key's version lands
 * first. The refresh used to take the put for the older replacement (it started first) and store
 * its value over the put's: once the put had resolved, every instance read the row as it was
 * before the write (found by the fleet fuzz under faults: "put row 1 on 2, then get on another:
 * v20 < v21"). A put is ordered by when its method returned, the moment its write is done.
 */
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { memoizersOf, storeCases } from '../support/store-cases';
import { gate } from '../support/gate';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cases = storeCases('redis', 'memcached', 'tiered over redis', 'tiered over memcached', 'memory');

describe.each(cases)('%s', (name, make) => {
  const memoizer = memoizersOf(make);
  // Two instances share a store, except the memory store's (each has its own): read on both or one.
  const readers = <M>(a: M, b: M): Array<[string, M]> =>
    name === 'memory'
      ? [['a', a]]
      : [
          ['a', a],
          ['b', b],
        ];

  it('a refresh that read the row before a put on its instance wrote it never stores its value over the put', async () => {
    const prefix = uniquePrefix('rpsi');
    const [a, b] = [await memoizer(prefix), await memoizer(prefix)];
    const key = `${prefix}:user:1`;
    const policy = testPolicy({ ttlMs: 600_000 });
    let db = 20;
    expect(await a.getOrSet(key, async () => db, policy)).toBe(20);

    const [putMayWrite, refreshRead, refreshMayEnd] = [gate(), gate(), gate()];
    const put = a.put(
      key,
      async () => {
        await putMayWrite.opened;
        return (db = 21);
      },
      policy,
    );
    await sleep(20); // the put's method is waiting to write
    const refresh = a.refresh(
      key,
      async () => {
        const row = db;
        refreshRead.open();
        await refreshMayEnd.opened;
        return row;
      },
      policy,
    );
    await refreshRead.opened;
    putMayWrite.open();
    expect((await put).value).toBe(21);
    refreshMayEnd.open();
    expect(await refresh).toBe(20); // what it read, returned to its caller

    for (const [, m] of readers(a, b)) expect(await m.getOrSet(key, async () => db, policy)).toBe(21);
  });

  it('300 rounds of a put racing a refresh on one instance: a read after the put resolved sees its write', async () => {
    const prefix = uniquePrefix('rpsi');
    const [a, b] = [await memoizer(prefix), await memoizer(prefix)];
    const policy = testPolicy({ ttlMs: 600_000 });
    const jitter = () => sleep(Math.floor(Math.random() * 3));
    const bad: string[] = [];
    let db = 0;
    for (let round = 0; round < 300; round++) {
      const key = `${prefix}:user:${round % 4}`;
      await a.getOrSet(key, async () => db, policy);
      const put = a.put(
        key,
        async () => {
          await jitter();
          return ++db;
        },
        policy,
      );
      const refresh = (async () => {
        await jitter();
        return a.refresh(
          key,
          async () => {
            const row = db;
            await jitter();
            return row;
          },
          policy,
        );
      })();
      const written = (await put).value;
      for (const [on, m] of readers(a, b)) {
        const got = await m.getOrSet(key, async () => db, policy);
        if (got < written) bad.push(`round ${round}, read on ${on}: ${got} < ${written}`);
      }
      await refresh;
    }
    expect(bad).toEqual([]);
  }, 120_000);
});
