import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { memcachedStore } from '../../lib';
import { MemcachedServer } from '../support/servers';

/*
 * memjs' sockets, as the store manages them (found by review of the socket tracking added for a
 * clean exit). memjs' own 'close' handler cleared whichever socket its server held when an old
 * one, given up on, finally closed: the newer socket was orphaned and the requests written to it
 * never left nor timed out (two servers, one frozen at boot: 0 of 8 sets settled). And a store
 * closed while its server was frozen reported itself not ready when reopened at once.
 */

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});
const bytes = (s: string) => new TextEncoder().encode(s);
type Servers = { client: { servers: Array<{ port: string | number }> } };

it.each([0, 1])(
  'two servers, the one at memjs index %i frozen at boot: every write settles (the frozen one fails, the other stores)',
  async (frozenIndex) => {
    const a = await MemcachedServer.launch();
    const b = await MemcachedServer.launch();
    try {
      const store = memcachedStore({ servers: `${a.address},${b.address}` });
      const ports = (store as unknown as Servers).client.servers.map((s) => String(s.port));
      (ports[frozenIndex] === String(b.port) ? b : a).freeze();
      await store.ready(2_000);
      const outcomes = await Promise.race([
        Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.set(`app:x${i}`, bytes('v'), 60_000).then(
              () => 'stored',
              () => 'failed',
            ),
          ),
        ),
        new Promise<string>((r) => setTimeout(() => r('a write still pending after 15 s'), 15_000)),
      ]);
      expect(Array.isArray(outcomes) ? outcomes.length : outcomes).toBe(8);
      await store.disconnect();
    } finally {
      a.thaw();
      b.thaw();
      await a.stop();
      await b.stop();
    }
  },
  40_000,
);

it('a store closed while its server was frozen is ready again as soon as the server is', async () => {
  const server = await MemcachedServer.launch();
  try {
    const store = memcachedStore({ servers: server.address });
    expect(await store.ready(2_000)).toBe(true);
    await store.set('app:k', bytes('v'), 60_000);
    server.freeze();
    await store.disconnect(); // its socket destroyed after 1 s
    server.thaw();
    expect(await store.ready(2_000)).toBe(true);
    expect(Buffer.from((await store.get('app:k'))!).toString()).toBe('v');
    await store.disconnect();
  } finally {
    server.thaw();
    await server.stop();
  }
});
