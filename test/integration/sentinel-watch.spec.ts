/*
 * Sentinel fleets, from review. ioredis learns of a failover only from `+switch-master`: a client
 * whose Sentinel subscriptions were down then (a Sentinel restarted, a network blip; ioredis took
 * 60 s to subscribe again), or one with `failoverDetector: false`, stayed on the old master. With
 * the old master cut off from the Sentinels but still reachable by the app (a partition), it never
 * left: 791 of 791 reads stale over 80 s. The store now checks every 2 s that its client is on the
 * master the Sentinels name, and reconnects it: clients it creates, and ioredis clients passed in
 * (which had no check), also for an ACL user without INFO (the check used to stop there). And a
 * frozen first Sentinel (its socket accepted by the kernel, no answer) stopped caching although
 * two other Sentinels were healthy.
 *
 * Three Sentinels, a master and two replicas. The Sentinels and replicas reach the master through
 * a proxy that can be cut; the app reaches it directly (natMap), as across a partition.
 */
import { createServer, Socket, type Server } from 'node:net';
import Redis from 'ioredis';
import { redisStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { RedisSentinel, RedisServer } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';
import { until } from '../support/until';
import { withDeadline } from '../../lib/util/deadline';
import { closeClientOf, nodeRedisSentinel, nodeRedisStore } from '../support/node-redis';

jest.setTimeout(120_000);

const waitFor = (ok: () => boolean, what: string) => until(ok, 30_000, what, 100);
const offset = (s: RedisServer) => /master_repl_offset:(\d+)/.exec(s.cli('info', 'replication'))?.[1];

/** A TCP proxy whose links can be cut: then nothing passes, and new connections are dropped. */
class CuttableProxy {
  private cut = false;
  private constructor(
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
    readonly port: number,
  ) {}

  static async start(target: number): Promise<CuttableProxy> {
    const sockets = new Set<Socket>();
    // The connection handler needs the proxy, which needs the listening server: assigned below.
    let proxy!: CuttableProxy;
    const server = createServer((client) => {
      if (proxy.cut) return void client.destroy();
      const upstream = new Socket().connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined).on('close', () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (proxy = new CuttableProxy(server, sockets, (server.address() as { port: number }).port));
  }

  partition(): void {
    this.cut = true;
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Fleet {
  master: RedisServer;
  proxy: CuttableProxy;
  replicas: RedisServer[];
  sentinels: RedisSentinel[];
  stop(): Promise<void>;
}

async function fleet(): Promise<Fleet> {
  const master = await RedisServer.launch();
  const proxy = await CuttableProxy.start(master.port);
  const replicas = [
    await RedisServer.launch(['--replicaof', '127.0.0.1', String(proxy.port)]),
    await RedisServer.launch(['--replicaof', '127.0.0.1', String(proxy.port)]),
  ];
  const sentinels = [
    await RedisSentinel.launch(proxy.port, 'mymaster', 1000),
    await RedisSentinel.launch(proxy.port, 'mymaster', 1000),
    await RedisSentinel.launch(proxy.port, 'mymaster', 1000),
  ];
  const stop = async () => {
    for (const s of [...sentinels, ...replicas, master]) {
      s.thaw();
      await s.stop();
    }
    await proxy.close();
  };
  try {
    await waitFor(
      () =>
        sentinels.every(
          (s) =>
            s.cli('sentinel', 'replicas', 'mymaster').includes(String(replicas[1].port)) &&
            s
              .cli('sentinel', 'sentinels', 'mymaster')
              .split('\n')
              .filter((l) => l === 'ip').length === 2,
        ),
      'the Sentinels finding the replicas and each other',
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { master, proxy, replicas, sentinels, stop };
}

/** An ACL user that may do all but INFO, on every server that may become master. */
const NO_INFO = { username: 'app', password: 'app-pw' };
const denyInfo = (f: Fleet) => {
  for (const s of [f.master, ...f.replicas])
    s.cli('acl', 'setuser', 'app', 'on', '>app-pw', '~*', '&*', '+@all', '-info');
};

describe('Sentinel: a client that missed the failover', () => {
  it.each([
    ['partitioned from the Sentinels', 'its Sentinel subscriptions were dropped just before', {}, 'own'],
    ['partitioned from the Sentinels', 'failoverDetector is off', { failoverDetector: false }, 'own'],
    // The watch's INFO times out there: it reconnected nothing until the thaw (review of c31273a).
    ['frozen', 'failoverDetector is off', { failoverDetector: false }, 'own'],
    // The check stopped on NOPERM: the client stayed on the old master, as with no check.
    ['partitioned from the Sentinels', 'an ACL user without INFO', { failoverDetector: false, ...NO_INFO }, 'own'],
    // Only the store's own clients were checked.
    ['partitioned from the Sentinels', 'an ioredis client passed in', { failoverDetector: false }, 'ioredis'],
    // Its INFO to the frozen master waited for ever without a commandTimeout (review).
    ['frozen', 'an ioredis client passed in without commandTimeout', { failoverDetector: false }, 'ioredis'],
    // Not checked by the store: node-redis subscribes again at once, and follows +switch-master.
    ['partitioned from the Sentinels', 'node-redis createSentinel passed in', {}, 'node-redis'],
  ])('the old master %s: the client moves to the new master (%s)', async (how, why, extra, whose) => {
    const f = await fleet();
    if (why.includes('ACL')) denyInfo(f);
    const prefix = uniquePrefix('sw');
    const made: Memoizer[] = [];
    const passedIn: Redis[] = [];
    const instance = async () => {
      const connection = {
        sentinels: f.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
        name: 'mymaster',
      };
      // The Sentinels name the master by the proxy's port; the app reaches the master directly.
      const redisOptions = {
        natMap: { [`127.0.0.1:${f.proxy.port}`]: { host: '127.0.0.1', port: f.master.port } },
        ...extra,
      };
      const store =
        whose === 'own'
          ? redisStore({ ...connection, redisOptions })
          : whose === 'ioredis'
            ? redisStore({
                client:
                  passedIn[
                    passedIn.push(
                      new Redis({
                        ...connection,
                        ...redisOptions,
                        ...(why.includes('without commandTimeout') ? {} : { commandTimeout: 500 }),
                      }),
                    ) - 1
                  ],
              })
            : nodeRedisStore(
                nodeRedisSentinel(connection.sentinels, 'mymaster', 6, {
                  nodeAddressMap: redisOptions.natMap,
                  ...extra,
                }),
              );
      expect(await store.ready(5_000)).toBe(true);
      const m = new Memoizer(store, { prefix });
      made.push(m);
      return m;
    };
    try {
      const a = await instance();
      const tag = `${prefix}:~t:x`;
      const policy = testPolicy({ ttlMs: 600_000, deps: [tag] });
      let db = 'v1';
      expect(await a.getOrSet(`${prefix}:k`, async () => db, policy)).toBe('v1');
      await a.ctx.background.drain(2_000);
      await waitFor(() => f.replicas.every((r) => offset(r) === offset(f.master)), 'the replicas catching up');
      for (const s of f.sentinels) s.cli('client', 'kill', 'type', 'pubsub');

      if (how === 'frozen') f.master.freeze();
      else f.proxy.partition();
      await waitFor(() => f.sentinels.every((s) => s.masterNow() !== f.proxy.port), 'the failover');
      const promoted = f.replicas.find((r) => r.port === f.sentinels[0].masterNow())!;
      await waitFor(() => promoted.cli('role').startsWith('master'), 'the promotion');
      const b = await instance(); // connects to the new master
      db = 'v2';
      await b.invalidateDeps([tag]);

      // The old master is still a master (nothing demotes it across the partition), and A reaches it.
      if (how !== 'frozen') expect(f.master.cli('role').split('\n')[0]).toBe('master');
      const reads: string[] = [];
      await until(
        async () => {
          reads.push(await a.getOrSet(`${prefix}:k`, async () => db, policy));
          return reads[reads.length - 1] === 'v2';
        },
        20_000,
        'A reading the new master',
        200,
      );
      // Once there, it stays there. (Against a frozen old master a call runs uncached and returns v2
      // too: what counts is that A's client is on the new master while the old one is still frozen.)
      for (let i = 0; i < 5; i++) expect(await a.getOrSet(`${prefix}:k`, async () => db, policy)).toBe('v2');
      // A store failing over to computing returns v2 too: its writes must land on the new master.
      await until(
        async () => {
          // Bounded here: a client passed in without commandTimeout would wait on a frozen master.
          await withDeadline(
            a.store.set(`${prefix}:landed`, new Uint8Array([1]), 60_000).catch(() => undefined),
            1_000,
          );
          return promoted.cli('exists', `${prefix}:landed`) === '1';
        },
        20_000,
        "A's writes reaching the new master",
        200,
      );
      if (whose === 'node-redis') return; // its sockets are its own
      await until(
        () => {
          const c = (a.store as unknown as { client: { status: string; stream?: { remotePort?: number } } }).client;
          return c.status === 'ready' && c.stream?.remotePort === promoted.port;
        },
        20_000,
        "A's client on the new master",
        100,
      );
    } finally {
      for (const m of made) await m.close().then(() => m.store.disconnect());
      for (const c of passedIn) c.disconnect();
      for (const m of made) await closeClientOf(m.store);
      await f.stop();
    }
  });

  it('the first Sentinel listed is frozen: the client asks the next one, and caches', async () => {
    const f = await fleet();
    const made: Memoizer[] = [];
    try {
      f.sentinels[0].freeze();
      const store = redisStore({
        sentinels: f.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
        name: 'mymaster',
        redisOptions: { natMap: { [`127.0.0.1:${f.proxy.port}`]: { host: '127.0.0.1', port: f.master.port } } },
      });
      expect(await store.ready(5_000)).toBe(true);
      const prefix = uniquePrefix('sf1');
      const m = new Memoizer(store, { prefix });
      made.push(m);
      let runs = 0;
      const policy = testPolicy({ ttlMs: 600_000, deps: [] });
      for (let i = 0; i < 3; i++) expect(await m.getOrSet(`${prefix}:k`, async () => ++runs, policy)).toBe(1);
    } finally {
      for (const m of made) await m.close().then(() => m.store.disconnect());
      await f.stop();
    }
  });
});
