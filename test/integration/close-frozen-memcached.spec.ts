/**
 * An app on memcached closed while the server is frozen (SIGSTOP: a partition looks the same)
 * lets its process exit: before the fix, memjs' sockets stayed open and the process never ended.
 */
import { createInterface } from 'node:readline';
import { MemcachedServer } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';
import { spawnTs } from '../support/ts-child';

it('closing the app with memcached frozen: the process exits by itself', async () => {
  const server = await MemcachedServer.launch();
  const child = spawnTs('test/support/close-child.ts', [server.address, uniquePrefix('close')]);
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 600 && !lines.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(lines).toEqual(['ready']);
    server.freeze();
    child.stdin.end('close\n');
    // A liveness bound, well above the store's own 1 s wait for its sockets.
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
    expect({ code, lines }).toEqual({ code: 0, lines: ['ready', 'closed'] });
  } finally {
    child.kill('SIGKILL');
    server.thaw();
    await server.stop();
  }
}, 40_000);
