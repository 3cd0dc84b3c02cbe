/*
 * Tiered store over a Redis Cluster, two instances in processes of their own. B holds an L1 copy.
 * While B is frozen (SIGSTOP: a GC pause, a VM stall), the node holding B's bus subscription drops
 * that connection (CLIENT KILL here; a node restart, `timeout`, `client-output-buffer-limit pubsub`
 * in production), and A invalidates: it resolves without B, which no node counts as a subscriber
 * any more. B resumes, and ioredis' ClusterSubscriber subscribes again on some node without a word
 * on the Cluster object. B must drop its copy: once a lease from before the freeze can have run out,
 * it never serves the old value again. (Before the fix it served it for the whole l1 ttl: the next
 * ping on the new subscription renewed the lease over the lost message.)
 */
import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { WorkerProcess } from '../support/worker-process';

jest.setTimeout(120_000);
const servers = sharedServers();
const LEASE_MS = 1000; // tieredStore's default

it('a frozen instance whose cluster subscription moved meanwhile drops what it missed (6 rounds)', async () => {
  const prefix = uniquePrefix('tcs');
  const args = [JSON.stringify(servers.cluster), prefix];
  const [a, b] = await Promise.all([
    WorkerProcess.start('test/support/tiered-cluster-worker.ts', args),
    WorkerProcess.start('test/support/tiered-cluster-worker.ts', args),
  ]);
  const admins = new Map<number, Redis>();
  const admin = (port: number) => admins.get(port) ?? admins.set(port, new Redis(port, '127.0.0.1')).get(port)!;
  const stale: string[] = [];
  try {
    for (let round = 0; round < 6; round++) {
      const key = `${prefix}:k${round}`;
      const tag = `${prefix}:~tag:t${round}`;
      expect(await b.send({ op: 'get', key, tag, value: 'old' })).toEqual({ value: 'old' });
      const sub = await b.send<{ port: number; localPort: number }>({ op: 'sub' });
      process.kill(b.pid, 'SIGSTOP');
      try {
        expect(await admin(sub.port).call('CLIENT', 'KILL', 'ADDR', `127.0.0.1:${sub.localPort}`)).toBe(1); // killed one connection
        expect(await a.send({ op: 'inv', tag })).toEqual({ ok: true });
      } finally {
        process.kill(b.pid, 'SIGCONT');
      }
      // At once, B may still serve its copy under its lease (README: an instance whose subscription
      // was dropped); after the lease, never.
      await sleep(LEASE_MS * 1.5);
      const later = await b.send<{ value: string }>({ op: 'get', key, tag, value: 'new' });
      if (later.value !== 'new') stale.push(`round ${round}: ${later.value}`);
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    for (const r of admins.values()) r.disconnect();
  }
  expect(stale).toEqual([]);
});
