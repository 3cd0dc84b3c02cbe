/**
 * A Redis store's invalidation bus in a process of its own (argv: redis url, 'own' | 'passed-in').
 * Answers one JSON line per command: `state` (how often the bus came up, the messages it got),
 * `arm` (the next time the bus's connection is ready again, block the event loop for `ms` right
 * after its SUBSCRIBE went out, as a GC pause or a long synchronous task would), `exit`. An
 * unhandled rejection is reported as `{ crash }` before the process ends, as it would end an app.
 */
import { createInterface } from 'node:readline';
import Redis from 'ioredis';
import { redisStore } from '../../lib/stores/redis/redis.store';

const [url, client] = process.argv.slice(2);
const say = (value: unknown) => void process.stdout.write(JSON.stringify(value) + '\n');
process.on('unhandledRejection', (error) => {
  say({ crash: String(error) });
  process.exit(70);
});

let stallMs = 0;
const duplicate = Redis.prototype.duplicate;
Redis.prototype.duplicate = function (this: Redis, ...args: Parameters<Redis['duplicate']>) {
  const copy = duplicate.apply(this, args);
  copy.on('ready', () => {
    if (stallMs === 0) return;
    const ms = stallMs;
    stallMs = 0;
    // After every 'ready' listener ran (the bus sends SUBSCRIBE in its own): both SUBSCRIBEs are out.
    setImmediate(() => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        // blocked
      }
    });
  });
  return copy;
};

const store =
  client === 'own'
    ? redisStore({ url })
    : redisStore({ client: new Redis(url, { commandTimeout: 500, maxRetriesPerRequest: 0 }) });
let ups = 0;
const messages: string[] = [];
store.createBus().subscribe(
  ['ch'],
  (_channel, text) => messages.push(text),
  (up) => void (up && ups++),
);

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as { op: string; ms?: number };
  if (command.op === 'exit') process.exit(0);
  if (command.op === 'arm') stallMs = command.ms!;
  say({ ups, messages });
});
say({ started: true });
