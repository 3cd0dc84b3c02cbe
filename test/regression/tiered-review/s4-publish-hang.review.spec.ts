import Redis from 'ioredis';
import { memoryStore, redisStore, tieredStore } from '../../../lib';
import { Memoizer } from '../../../lib/engine/memoizer';
import { RedisServer } from '../../support/servers';
import { uniquePrefix } from '../../support/shared-servers';
import { CutProxy, policyFor, sleep, until } from './helpers';

/**
 * An ioredis client passed in (README: "Store calls are bounded by the module's operationTimeout").
 * Redis stops answering (frozen) right after the invalidation's version writes landed: the bus
 * PUBLISH is sent without any bound (BusProtocol.announce -> transport.publishCounted, not through
 * the store guard), so invalidateDeps never settles — no StoreFailureError, no resolution.
 */
describe('review S4: invalidation hangs on the bus publish', () => {
  let server: RedisServer;
  let proxy: CutProxy;
  beforeAll(async () => {
    server = await RedisServer.launch();
    proxy = await CutProxy.start(server.port);
  });
  afterAll(async () => {
    await proxy.close();
    await server.stop();
  });

  it('invalidateDeps settles within operationTimeout + lease + margin when Redis freezes before the PUBLISH', async () => {
    const prefix = uniquePrefix('rs4');
    const client = new Redis(proxy.port, '127.0.0.1'); // the app's own client, passed in
    const store = tieredStore(memoryStore(), redisStore({ client }));
    expect(await store.ready(5_000)).toBe(true);
    const a = new Memoizer(store, { prefix });
    const tag = `${prefix}:~tag:t`;
    expect(await a.getOrSet(`${prefix}:k`, async () => 'v', policyFor(tag))).toBe('v');
    await sleep(300);

    proxy.freezeOn = /"t":"inv"/; // Redis freezes as the invalidation's PUBLISH reaches it
    let settled: string | undefined;
    const started = Date.now();
    a.invalidateDeps([tag]).then(
      () => (settled = 'resolved'),
      (e) => (settled = `rejected: ${String(e)}`),
    );
    await until(() => settled !== undefined, 6_000).catch(() => undefined);
    const state = settled;
    console.log(`after ${Date.now() - started} ms: ${state ?? 'still pending'}`);
    client.disconnect();
    await store.disconnect().catch(() => undefined);
    expect(state).toBeDefined();
  }, 30_000);
});
