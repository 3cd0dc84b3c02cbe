/**
 * A tiered-store app instance (argv: redis url, prefix). Prints `ready` once its bus is up, waits
 * for `go` on stdin (the test publishes in between), then serves a call and prints `served N`.
 * An uncaught exception ends it with code 70: what a hostile bus message must never cause.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeModule, memoryStore, redisStore, tieredStore } from '../../lib';

@Injectable()
class Svc {
  runs = 0;
  @CacheMemoize({ ttl: '1m' })
  async get(id: number): Promise<number> {
    this.runs++;
    return id;
  }
}

process.on('uncaughtException', (e) => {
  process.stdout.write(`uncaught ${String(e)}\n`);
  process.exit(70);
});

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const [url, prefix] = process.argv.slice(2);
  const app = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: tieredStore(memoryStore(), redisStore({ url })) },
        prefix,
        secret: 'a-long-enough-secret-0001',
      }),
    ],
    providers: [Svc],
  }).compile();
  await app.init();
  const svc = app.get(Svc);
  await svc.get(1);
  await new Promise((r) => setTimeout(r, 300)); // the bus subscribed
  process.stdout.write('ready\n');
  process.stdin.once('data', () => {
    void (async () => {
      await new Promise((r) => setTimeout(r, 300)); // every message handled
      await svc.get(1);
      process.stdout.write(`served ${svc.runs}\n`);
      await app.close();
      process.exit(0);
    })();
  });
}
void main();
