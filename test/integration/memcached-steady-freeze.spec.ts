/*
 * memjs bounds a request by its socket's idle timeout, which every write resets: with a memcached
 * frozen (SIGSTOP: connected, answering nothing) and requests still flowing, nothing ever timed out.
 * Reads were bounded by the engine's own deadline, but an invalidation waited for as long as
 * traffic went on (found by the fleet fuzz: three invalidations without a reply in 15 s). The
 * store's memjs client now bounds each request itself.
 */
import { StoreFailureError, memcachedStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { MemcachedServer } from '../support/servers';
import { until } from '../support/until';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What `work` came to within `ms` (a bound on a hang, not on speed): its value, its error, or 'pending'. */
const within = <T>(work: Promise<T>, ms: number) =>
  Promise.race([
    work.then(
      (v) => ({ value: v }),
      (e: unknown) => ({ error: e }),
    ),
    sleep(ms).then(() => 'pending' as const),
  ]);

let server: MemcachedServer;
beforeAll(async () => {
  server = await MemcachedServer.launch();
});
afterAll(() => server.stop());

it('with the server frozen and steady traffic, an invalidation fails within its bound; then the store recovers', async () => {
  const store = memcachedStore({ servers: server.address });
  const m = new Memoizer(store, { prefix: 'sf' });
  const policy = testPolicy();
  try {
    expect(await m.getOrSet('sf:k', async () => 1, policy)).toBe(1);
    server.freeze();
    let n = 0;
    const traffic = setInterval(() => void m.getOrSet(`sf:x${n++ % 20}`, async () => 0, policy), 25);
    try {
      const invalidation = await within(m.invalidateKeys(['sf:k']), 5_000);
      expect(invalidation).toEqual({ error: expect.any(StoreFailureError) });
      const get = await within(store.get('sf:k'), 5_000);
      expect(get).toEqual({ error: expect.objectContaining({ message: 'memcached did not answer within 500 ms' }) });
      expect(n).toBeGreaterThan(4); // traffic went on meanwhile
    } finally {
      clearInterval(traffic);
      server.thaw();
    }
    // Recovered: invalidations land again, and the key is computed anew.
    await until(
      async () =>
        (await within(m.invalidateKeys(['sf:k']), 5_000)) !== 'pending' &&
        (await m.getOrSet('sf:k', async () => 2, policy)) === 2,
      10_000,
      'the store answering again',
    );
  } finally {
    await m.close();
    await store.disconnect();
  }
}, 30_000);

it('an answer that arrived while the event loop was blocked past the bound is taken, not failed', async () => {
  const store = memcachedStore({ servers: server.address });
  try {
    await store.set('sf:blocked', new Uint8Array([7]), 60_000);
    const get = store.get('sf:blocked');
    const end = Date.now() + 900; // a long GC pause or synchronous task, right after the request went out
    while (Date.now() < end) {
      // blocked
    }
    expect(await get).toEqual(new Uint8Array([7]));
  } finally {
    await store.disconnect();
  }
});
