/**
 * Child process (argv: memcached address, prefix): an app on memcached. Prints `ready`, then on
 * a line on stdin closes the app and prints `closed`. It must then exit on its own: nothing the
 * store left open may keep it alive (the test freezes the server before closing).
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheMemoize, CacheMemoizeModule, memcachedStore } from '../../lib';

const [address, prefix] = process.argv.slice(2);

@Injectable()
class Svc {
  @CacheMemoize({ ttl: '1h' })
  async get(id: number): Promise<number> {
    return id;
  }
}

@Module({
  imports: [CacheMemoizeModule.forRoot({ prefix, stores: { default: memcachedStore({ servers: address }) } })],
  providers: [Svc],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.get(Svc).get(1);
  process.stdout.write('ready\n');
  process.stdin.once('data', () => {
    process.stdin.pause();
    process.stdin.unref?.();
    void app.close().then(() => process.stdout.write('closed\n'));
  });
}
void main();
