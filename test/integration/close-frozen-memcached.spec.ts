/**
 * An app on memcached closed while the server is frozen (SIGSTOP: a partition looks the same)
 * lets its process exit: before the fix, memjs' sockets stayed open and the process never ended.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MemcachedServer } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';

const root = join(__dirname, '../..');

it('closing the app with memcached frozen: the process exits by itself', async () => {
  const server = await MemcachedServer.launch();
  const child = spawn(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      join(root, 'test/support/close-child.ts'),
      server.address,
      uniquePrefix('close'),
    ],
    {
      cwd: root,
      env: { ...process.env, TS_NODE_PROJECT: join(root, 'tsconfig.json'), TS_NODE_SWC: 'true' },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 600 && !lines.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(lines).toEqual(['ready']);
    process.kill(server.pid!, 'SIGSTOP');
    child.stdin.end('close\n');
    // A liveness bound, well above the store's own 1 s wait for its sockets.
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
    expect({ code, lines }).toEqual({ code: 0, lines: ['ready', 'closed'] });
  } finally {
    child.kill('SIGKILL');
    process.kill(server.pid!, 'SIGCONT');
    await server.stop();
  }
}, 40_000);
