import { RedisServer } from '../../support/servers';
import { uniquePrefix } from '../../support/shared-servers';
import { drained } from '../../support/settle';
import { closeAll, instance, leased, policyFor, sleep } from './helpers';

/**
 * A computation under way on A while A's bus subscription is lost: B's invalidation of its tag
 * resolves (A is not subscribed, so PUBLISH does not count it). A's bus reconnects and drops L1
 * whole (resync), but the computation under way is not detached: once it ends, its value goes
 * into L1, and under the regained lease A serves it — a value computed before B's invalidation.
 */
describe('review S1: computation spanning a bus reconnect', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.launch();
  });
  afterAll(() => server.stop());

  it('A never serves a value computed before B.invalidateDeps resolved', async () => {
    const prefix = uniquePrefix('rs1');
    const a = await instance(server.url, prefix);
    const b = await instance(server.url, prefix);
    const tag = `${prefix}:~tag:t`;
    const key = `${prefix}:k`;
    const policy = policyFor(tag);
    // warm up: both instances hold a lease
    await a.getOrSet(`${prefix}:warm`, async () => 1, policy);
    await drained(a);
    await leased(a, `${prefix}:warm`);
    await b.getOrSet(`${prefix}:warm`, async () => 1, policy);
    await leased(b, `${prefix}:warm`);

    let release!: (v: string) => void;
    const pending = a.getOrSet(key, () => new Promise<string>((r) => (release = r)), policy);
    await sleep(50); // A has read its versions and runs the method

    server.cli('CLIENT', 'KILL', 'TYPE', 'pubsub'); // the bus connections drop (ioredis reconnects)
    await b.invalidateDeps([tag]); // resolves: B's invalidation is durable and acknowledged
    const invalidatedAt = Date.now();

    await sleep(600); // A's bus is back (resync) and holds a lease again
    release('computed-before-invalidation');
    expect(await pending).toBe('computed-before-invalidation'); // its own caller: fine
    await drained(a);
    await sleep(300);

    const source = (await a.inspect(key)).source;
    const after = await a.getOrSet(key, async () => 'fresh', policy);
    console.log('A served from', source, after);
    const fromB = await b.getOrSet(key, async () => 'fresh-b', policy);
    await closeAll(a, b);
    expect(Date.now()).toBeGreaterThan(invalidatedAt);
    expect(fromB).not.toBe('computed-before-invalidation'); // L2 judges it stale
    expect(after).not.toBe('computed-before-invalidation'); // A's L1 copy must not be served
  }, 30_000);
});
