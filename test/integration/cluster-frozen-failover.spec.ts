/*
 * Cluster with replicas: the master holding the epoch is frozen (SIGSTOP: a partition, a VM
 * pause), the cluster fails over to its replica and is healthy again. Does each client kind
 * find the new master (invalidations land), do calls stay bounded, and after SIGCONT (old master
 * demoted) is nothing stale served?
 */
import Redis, { Cluster } from 'ioredis';
import { redisStore, type CacheStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { closeNodeRedisClients, nodeRedisCluster, nodeRedisStore } from '../support/node-redis';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisCluster } from '../support/servers';

jest.setTimeout(120_000);
afterAll(() => closeNodeRedisClients());

// Clients passed in find the new master only with options of their own (README; ioredis: slotsRefreshInterval,
// as here). Only the module's own client runs by default (each case takes a cluster with replicas): CASE=<name>.
const kinds: Array<[string, (c: RedisCluster) => CacheStore]> = [
  ['redisStore({ cluster })', (c) => redisStore({ cluster: c.startupNodes })],
  [
    'ioredis Cluster passed in',
    (c) =>
      redisStore({
        client: new Cluster(c.startupNodes, {
          slotsRefreshInterval: 2_000,
          redisOptions: { commandTimeout: 500 },
        }) as never,
      }),
  ],
  ['node-redis createCluster', (c) => nodeRedisStore(nodeRedisCluster(c.startupNodes))],
];
const only = process.env.CASE;
/** The call's value or error, or 'HUNG' when it has not settled within `ms` (the timer is cleared). */
const within = <T>(p: Promise<T>, ms: number) => {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'HUNG'>((resolve) => (timer = setTimeout(() => resolve('HUNG'), ms)));
  const settled = p.then(
    (v) => ({ v }),
    (e: Error) => ({ e: e.message }),
  );
  return Promise.race([settled, hung]).finally(() => clearTimeout(timer));
};

describe.each(kinds.filter(([n], i) => (only === undefined ? i === 0 : n.includes(only))))('%s', (_n, make) => {
  it('a frozen master is failed over: invalidations land again, calls stay bounded, nothing stale', async () => {
    const c = await RedisCluster.launch(3, { replicas: 1, nodeTimeoutMs: 1000 });
    const prefix = uniquePrefix('ff');
    const made: Memoizer[] = [];
    const mk = async () => {
      const s = make(c);
      await s.ready?.(5_000);
      const m = new Memoizer(s, { prefix });
      made.push(m);
      return m;
    };
    const admin = new Redis({ port: c.nodes[0].port });
    const report: Record<string, unknown> = {};
    try {
      const a = await mk();
      const b = await mk();
      const tag = `${prefix}:~t:x`;
      const policy = testPolicy({ ttlMs: 600_000, deps: [tag] });
      const key = `${prefix}:k`;
      let db = 'v1';
      expect(await a.getOrSet(key, async () => db, policy)).toBe('v1');
      await a.ctx.background.drain(2_000);
      const slot = Number(await admin.cluster('KEYSLOT', `${prefix}:~epoch`));
      const slots = (await admin.cluster('SLOTS')) as unknown as Array<
        [number, number, [string, number], [string, number]]
      >;
      const [, , [, mport]] = slots.find(([f, t]) => slot >= f && slot <= t)!;
      const victim = c.nodes.find((n) => n.port === mport)!;
      const others = c.nodes.filter((n) => n !== victim);
      if (process.env.KILL) await victim.kill();
      else victim.freeze();
      // calls while frozen: bounded
      const hung: string[] = [];
      const t0 = Date.now();
      for (const r of await Promise.all([
        within(
          a.getOrSet(key, async () => db, policy),
          5_000,
        ),
        within(b.invalidateDeps([tag]), 8_000),
      ]))
        if (r === 'HUNG') hung.push('call while frozen');
      report.frozenCallsMs = Date.now() - t0;
      // wait for the failover: another node owns the slot, cluster ok
      const probe = new Redis({ port: others[0].port });
      for (let i = 0; i < 200; i++) {
        const sl = (await probe.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
        const owner = sl.find(([f, t]) => slot >= f && slot <= t)?.[2][1];
        if (
          owner !== undefined &&
          owner !== mport &&
          others.every((n) => n.cli('cluster', 'info').includes('cluster_state:ok'))
        )
          break;
        await sleep(100);
      }
      probe.disconnect();
      await sleep(1_500);
      const asker = new Redis({ port: others[0].port });
      const nowSlots = (await asker.cluster('SLOTS').finally(() => asker.disconnect())) as unknown as Array<
        [number, number, [string, number]]
      >;
      const newOwner = nowSlots.find(([f, t]) => slot >= f && slot <= t)![2][1];
      report.failedOver =
        newOwner !== mport &&
        others
          .find((n) => n.port === newOwner)!
          .cli('role')
          .startsWith('master');
      expect(report.failedOver).toBe(true);
      // failover done: invalidate on A, up to ~8 s of tries
      const failures: string[] = [];
      let landedAfter = -1;
      for (let i = 0; i < 16; i++) {
        db = `v2-${i}`;
        const r = await within(a.invalidateDeps([tag]), 8_000);
        if (r === 'HUNG') hung.push(`invalidate ${i}`);
        else if ('e' in r) failures.push(r.e.slice(0, 120));
        else {
          landedAfter = i;
          break;
        }
        await sleep(500);
      }
      report.landedAfterTries = landedAfter;
      report.failures = failures.length;
      report.firstFailure = failures[0];
      if (!process.env.KILL) {
        victim.thaw();
        for (let i = 0; i < 100 && !victim.cli('role').startsWith('slave'); i++) await sleep(100);
      }
      await sleep(1_500);
      db = 'v3';
      const last = await within(b.invalidateDeps([tag]), 8_000);
      report.lastInvalidation = last;
      const ra = await within(
        a.getOrSet(key, async () => db, policy),
        5_000,
      );
      const rb = await within(
        b.getOrSet(key, async () => db, policy),
        5_000,
      );
      report.reads = [ra, rb];
      report.hung = hung;
      expect({ hung, landed: landedAfter >= 0, last, reads: [ra, rb] }).toEqual({
        hung: [],
        landed: true,
        last: { v: undefined },
        reads: [{ v: 'v3' }, { v: 'v3' }],
      });
    } finally {
      admin.disconnect();
      for (const m of made) {
        await m.close();
        await m.store.disconnect();
        const cl = (m.store as { client?: unknown }).client;
        if (cl instanceof Cluster) cl.disconnect();
      }
      await c.stop();
    }
  });
});
