/*
 * Sentinel with the module's own client (redisStore({ sentinels, name })). The master freezes
 * (SIGSTOP: a VM pause, a partition) and Sentinel fails over to its replica. Instance A, connected
 * before, must move to the new master while the old one stays frozen: until then its calls time out
 * and its invalidations reject, and once the old master thaws (still a master until Sentinel demotes
 * it) A would read entries invalidated on the new master and write invalidations that the
 * demotion wipes. Before `failoverDetector`, A stayed on the frozen master for as long as it was
 * frozen. Instance B, connected after the failover, invalidates there; then a call A starts gets
 * the new value, and A's own invalidation survives the old master rejoining as a replica.
 */
import { redisStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { RedisSentinel, RedisServer } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';

jest.setTimeout(120_000);

/** Until `ok` holds, polled every 100 ms (each poll may run redis-cli), for 20 s at most. */
const waitFor = (ok: () => boolean, what: string) => until(ok, 20_000, what, 100);
const linked = (replica: RedisServer) => replica.cli('info', 'replication').includes('master_link_status:up');
const offset = (s: RedisServer) => /master_repl_offset:(\d+)/.exec(s.cli('info', 'replication'))?.[1];
/** The port the store's ioredis client is connected to now (the test looks inside; users need not). */
const connectedTo = (m: Memoizer) =>
  (m.store as unknown as { client: { status: string; stream?: { remotePort?: number } } }).client;

it('a frozen master failed over is left at once, and a resolved invalidation holds in every instance', async () => {
  const master = await RedisServer.launch();
  const replica = await RedisServer.launch(['--replicaof', '127.0.0.1', String(master.port)]);
  const sentinel = await RedisSentinel.launch(master.port, 'mymaster', 1000);
  const prefix = uniquePrefix('sf');
  const made: Memoizer[] = [];
  const instance = async () => {
    const store = redisStore({ sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'mymaster' });
    expect(await store.ready(5_000)).toBe(true);
    const m = new Memoizer(store, { prefix });
    made.push(m);
    return m;
  };
  try {
    await waitFor(() => linked(replica), 'replication');
    await waitFor(() => sentinel.cli('sentinel', 'replicas', 'mymaster').includes(String(replica.port)), 'discovery');
    const a = await instance();
    const [x, y] = [`${prefix}:~t:x`, `${prefix}:~t:y`];
    const [px, py] = [testPolicy({ ttlMs: 600_000, deps: [x] }), testPolicy({ ttlMs: 600_000, deps: [y] })];
    let [dbx, dby] = ['v1', 'w1'];
    expect(await a.getOrSet(`${prefix}:kx`, async () => dbx, px)).toBe('v1');
    expect(await a.getOrSet(`${prefix}:ky`, async () => dby, py)).toBe('w1');
    await a.ctx.background.drain(2_000);
    await waitFor(() => offset(master) === offset(replica), 'the replica catching up');

    master.freeze();
    await waitFor(() => sentinel.masterNow() === replica.port, 'the failover');
    await waitFor(() => replica.cli('role').startsWith('master'), 'the promotion');
    await waitFor(() => {
      const c = connectedTo(a);
      return c.status === 'ready' && c.stream?.remotePort === replica.port;
    }, 'A moving to the new master while the old one is frozen');

    const b = await instance();
    dbx = 'v2';
    await b.invalidateDeps([x]);
    expect(await b.getOrSet(`${prefix}:kx`, async () => dbx, px)).toBe('v2');
    expect(await a.getOrSet(`${prefix}:kx`, async () => dbx, px)).toBe('v2');
    dby = 'w2';
    await a.invalidateDeps([y]);

    master.thaw();
    await waitFor(
      () => master.cli('role').startsWith('slave') && linked(master),
      'the old master rejoining as a replica',
    );
    await waitFor(() => offset(master) === offset(replica), 'the old master catching up');
    expect(await b.getOrSet(`${prefix}:ky`, async () => dby, py)).toBe('w2');
    expect(await a.getOrSet(`${prefix}:kx`, async () => dbx, px)).toBe('v2');
  } finally {
    master.thaw();
    for (const m of made) {
      await m.close();
      await m.store.disconnect();
    }
    await sentinel.stop();
    await Promise.all([replica.stop(), master.stop()]);
  }
});
