/**
 * The tiered store's bus is a Redis channel anyone who can write to the store can PUBLISH on. A
 * message that is JSON but not the bus's shape is ignored: the instance stays up and keeps serving.
 * Before the fix, `keys: 5` made every instance throw in the subscriber (an uncaught exception).
 * Runs the instance as a child process: under Jest an uncaught exception does not end the process.
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { spawnTs } from '../support/ts-child';

const servers = sharedServers();

const hostile: Array<[string, unknown]> = [
  ['drop whose keys is a number', { t: 'drop', from: 'x', keys: 5 }],
  ['inv whose keys is a number', { t: 'inv', from: 'x', id: 'i', keys: 5 }],
  ['inv whose deps is a string', { t: 'inv', from: 'x', id: 'i', deps: 'abc' }],
  ['inv whose deps hold objects', { t: 'inv', from: 'x', id: 'i', deps: [{}], keys: [null] }],
  ['inv whose prefix is an object', { t: 'inv', from: 'x', id: 'i', prefix: { length: 1 } }],
  ['drop whose keys is an object', { t: 'drop', from: 'x', keys: { length: 2 } }],
  ['a ping whose id is an object', { t: 'ping', from: 'x', id: {} }],
  ['null', null],
  ['an array', [1, 2]],
];

it('a tiered instance stays up and serves after hostile bus messages', async () => {
  const prefix = uniquePrefix('bushostile');
  const child = spawnTs('test/support/bus-victim-child.ts', [servers.redis, prefix]);
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const redis = new Redis(servers.redis);
  try {
    for (let i = 0; i < 600 && !lines.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(lines).toEqual(['ready']);
    for (const [, message] of hostile)
      expect(await redis.publish(`${prefix}:~bus`, JSON.stringify(message))).toBeGreaterThan(0);
    child.stdin.write('go\n');
    // Still up, and its L1 copy of get(1) still serves: the method ran once in all.
    expect({ code: await exited, lines }).toEqual({ code: 0, lines: ['ready', 'served 1'] });
  } finally {
    child.kill('SIGKILL');
    await redis.quit();
  }
}, 60_000);
