// A plain Node process (default --unhandled-rejections=throw): a memoized method with grace whose
// background refresh fails while two callers are served the stale value. Prints what it served,
// then "still alive" if no rejection was left unhandled (one would end the process first).
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheMemoize, CacheMemoizeModule, memoryStore, redisStore, tieredStore } from '../../lib';

const [kind, url, soft] = process.argv.slice(2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let failing = false;

@Injectable()
class Rates {
  @CacheMemoize({ ttl: 200, grace: '1m', ...(soft === 'soft' ? { timeout: { soft: 5 } } : {}) })
  async rates(): Promise<number> {
    await sleep(20);
    if (failing) throw new Error('rates feed down');
    return 42;
  }
}

const store =
  kind === 'memory'
    ? memoryStore()
    : kind === 'redis'
      ? redisStore({ url })
      : tieredStore(memoryStore(), redisStore({ url }));

@Module({
  imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix: `grace${process.pid}` })],
  providers: [Rates],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const rates = app.get(Rates);
  await rates.rates();
  await sleep(300); // past the ttl, within grace
  failing = true;
  const served = await Promise.all([rates.rates(), rates.rates(), rates.rates()]);
  console.log(`served ${served.join(',')}`);
  await sleep(200); // the refresh has failed by now
  console.log('still alive');
  await app.close();
  process.exit(0);
}
void main();
