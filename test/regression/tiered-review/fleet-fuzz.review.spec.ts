import { RedisServer } from '../../support/servers';
import { uniquePrefix } from '../../support/shared-servers';
import { closeAll, instance, sleep } from './helpers';
import { testPolicy } from '../../support/policy';

/**
 * Exploration: three instances, random reads and invalidations (tags, keys, namespace, clear) of
 * a few keys; every value is the key's data version read by the method; a call must never return
 * a version older than one whose invalidation resolved before the call started.
 */
const MODE = process.env.FUZZ_MODE ?? 'tags';
describe('review fleet fuzz', () => {
  it(`mode ${MODE}`, async () => {
    const server = await RedisServer.launch();
    const prefix = uniquePrefix('fz');
    const inst = await Promise.all([0, 1, 2].map(() => instance(server.url, prefix)));
    await sleep(300);
    const KEYS = 4;
    const db = new Array(KEYS).fill(0);
    const floor = new Array(KEYS).fill(0);
    const floorBy = new Array(KEYS).fill(-1); // a call starting now must see at least this
    const ns = `${prefix}:~ns:N`;
    const all = `${prefix}:~all`;
    const policyOf = (k: number) => testPolicy({ ttlMs: 60_000, deps: [all, ns, `${prefix}:~tag:t${k}`] });
    const keyOf = (k: number) => `${prefix}:N:k${k}`;
    const bad: string[] = [];
    const end = Date.now() + 8_000;
    const workers = [...inst, ...inst, ...inst].map(async (m, j) => {
      const i = j % 3;
      while (Date.now() < end) {
        const k = Math.floor(Math.random() * KEYS);
        const r = Math.random();
        if (r < 0.8) {
          const need = floor[k];
          const by = floorBy[k];
          const v = await m.getOrSet(
            keyOf(k),
            async () => {
              const seen = db[k];
              await sleep(Math.random() * 3);
              return seen;
            },
            policyOf(k),
          );
          if (v < need) bad.push(`inst ${i} key ${k}: got ${v}, needed >= ${need} (invalidated by inst ${by})`);
        } else {
          db[k]++;
          const version = db[k];
          const how = MODE === 'mixed' ? ['tags', 'keys', 'ns', 'clear'][Math.floor(Math.random() * 4)] : MODE;
          if (how === 'tags') await m.invalidateDeps([`${prefix}:~tag:t${k}`]);
          else if (how === 'keys') await m.invalidateKeys([keyOf(k)]);
          else if (how === 'ns') await m.invalidateDeps([ns]);
          else await m.clear(`${prefix}:`, all);
          if (version > floor[k]) {
            floor[k] = version;
            floorBy[k] = i;
          }
        }
        if (Math.random() < 0.05) await sleep(1);
      }
    });
    const killer = (async () => {
      while (process.env.FUZZ_KILL && Date.now() < end) {
        await sleep(300 + Math.random() * 400);
        try {
          server.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
        } catch {
          /* */
        }
      }
    })();
    await Promise.all([...workers, killer]);
    await closeAll(...inst);
    await server.stop();
    expect(bad.slice(0, 10)).toEqual([]);
  }, 60_000);
});
