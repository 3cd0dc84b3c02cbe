import Redis from 'ioredis';
import { RedisServer } from '../../support/servers';
import { uniquePrefix } from '../../support/shared-servers';
import { drained } from '../../support/settle';
import { closeAll, CutProxy, instance, policyFor, sleep, until } from './helpers';

/**
 * A's bus subscription comes up only after A already filled L1 (at boot, e.g. after Redis was
 * down and the subscriber's reconnection lags the main connection's). Invalidations published
 * before it do not reach A and do not wait for it (PUBLISH does not count it). When the
 * subscription comes up for the first time, L1 is not dropped (only a reconnect resyncs), so
 * under the new lease A serves copies older than an invalidation that resolved.
 */
describe('review S2: first bus subscription after L1 was filled', () => {
  let server: RedisServer;
  let proxy: CutProxy;
  let probe: Redis;
  beforeAll(async () => {
    server = await RedisServer.launch();
    proxy = await CutProxy.start(server.port);
    probe = new Redis(server.port, '127.0.0.1');
  });
  afterAll(async () => {
    probe.disconnect();
    await proxy.close();
    await server.stop();
  });

  it("after B.invalidateDeps resolves, A's calls never return the old value", async () => {
    const prefix = uniquePrefix('rs2');
    const channel = `${prefix}:~bus`;
    const numsub = async () => Number(((await probe.pubsub('NUMSUB', channel)) as [string, number])[1]);
    const b = await instance(server.url, prefix);
    await until(async () => (await numsub()) === 1);
    proxy.holdSubscribers = true; // A's subscriber connects, its SUBSCRIBE is slow to land
    const a = await instance(proxy.url, prefix);
    const tag = `${prefix}:~tag:t`;
    const key = `${prefix}:k`;
    const policy = policyFor(tag);

    expect(await a.getOrSet(key, async () => 'old', policy)).toBe('old'); // A's L1 holds it
    await drained(a);
    expect(await numsub()).toBe(1); // A is not subscribed yet
    await b.invalidateDeps([tag]); // resolves: durable, every subscriber acknowledged

    proxy.releaseSubscribers(); // A's first subscription comes up
    await until(async () => (await numsub()) === 2);
    await sleep(300); // A holds its lease
    const results = new Set<string>();
    for (let i = 0; i < 5; i++) results.add(await a.getOrSet(key, async () => 'newer', policy));
    await closeAll(a, b);
    expect(results.has('old')).toBe(false);
  }, 30_000);
});
