/*
 * After app.close() the process exits by itself: nothing the library opened stays open (found by
 * review). A call still computing at shutdown, or one made after it, reopened memjs' connection
 * (memjs connects again for any request, keep-alive on), and the process never ended. A tiered
 * bus over a node-redis client passed in was closed with node-redis' close(), which waits for
 * replies a frozen Redis never sends, after which the socket could no longer be destroyed.
 */
import { createInterface } from 'node:readline';
import { MemcachedServer, RedisServer } from '../support/servers';
import { spawnTs } from '../support/ts-child';

const cases: Array<[kind: string, when: string]> = [
  ['memcached', 'frozen'], // memjs' sockets to a frozen server once stayed open
  ['memcached', 'slow'],
  ['memcached', 'after'],
  // frozen before boot: memjs timed out its connection, dropped it, and QUIT at close opened
  // another that the frozen server held open (the process never exited; found by review)
  ['memcached', 'frozen-at-boot'],
  ['tiered-memcached', 'frozen-at-boot'],
  ['tiered-memcached', 'after'],
  ['tiered-node-redis-6', 'frozen'],
  ['tiered-node-redis-5', 'frozen'],
];

it.each(cases)(
  '%s, closed (%s): the process exits by itself',
  async (kind, when) => {
    const server = kind.includes('redis') ? await RedisServer.launch() : await MemcachedServer.launch();
    const address = server instanceof RedisServer ? server.url : server.address;
    if (when === 'frozen-at-boot') server.freeze();
    const child = spawnTs('test/support/shutdown-child.ts', [kind, address, when]);
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      for (let i = 0; i < 600 && !lines.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(lines).toEqual(['ready']);
      if (when === 'frozen') server.freeze();
      child.stdin.write('close\n');
      // A liveness bound, well above the store's own waits at close (1 s at most).
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 8_000))]);
      expect({ code, lines }).toEqual({ code: 0, lines: ['ready', 'closed'] });
    } finally {
      child.kill('SIGKILL');
      server.thaw();
      await server.stop();
    }
  },
  40_000,
);
