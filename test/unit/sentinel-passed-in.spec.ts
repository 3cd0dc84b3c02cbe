/*
 * An ioredis Sentinel client passed in gets the store's master check (sentinel-watch.spec.ts shows
 * it moving the client after a missed failover). The client is the application's and outlives the
 * store: the check is shared by the stores using it, and leaves nothing on the client once the last
 * of them is closed. No server is needed: the clients never connect (lazyConnect).
 */
import { Redis } from 'ioredis';
import { redisStore } from '../../lib';

const sentinelClient = () =>
  new Redis({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster', lazyConnect: true });
const listeners = (c: Redis) => c.listenerCount('ready') + c.listenerCount('end');

describe('the master check on an ioredis Sentinel client passed in', () => {
  it('is one check for the stores sharing the client, and is removed when the last store closes', async () => {
    const client = sentinelClient();
    const before = listeners(client);
    const a = redisStore({ client });
    const watched = listeners(client);
    expect(watched).toBeGreaterThan(before);
    const b = redisStore({ client });
    expect(listeners(client)).toBe(watched); // shared, not a second check

    await a.disconnect();
    await a.disconnect(); // twice: releases its share once
    expect(listeners(client)).toBe(watched); // b still uses it
    await b.disconnect();
    expect(listeners(client)).toBe(before);
    expect(client.status).toBe('wait'); // the application's client is left as it was
  });

  it('comes back when a closed store is given to a new app', async () => {
    const client = sentinelClient();
    const before = listeners(client);
    const store = redisStore({ client });
    await store.disconnect();
    expect(listeners(client)).toBe(before);
    await store.ready(10); // what the module does at boot
    expect(listeners(client)).toBeGreaterThan(before);
    await store.disconnect();
    expect(listeners(client)).toBe(before);
  });

  it('is not set on a client that is not in Sentinel mode', async () => {
    const client = new Redis({ lazyConnect: true });
    const before = listeners(client);
    const store = redisStore({ client });
    expect(listeners(client)).toBe(before);
    await store.disconnect();
  });
});
