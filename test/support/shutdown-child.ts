/**
 * Child process for shutdown-exits.spec (argv: kind, address, when): an app whose close must let
 * the process exit by itself. kind: 'memcached' | 'tiered-memcached' (address: host:port) or
 * 'tiered-node-redis-5' | 'tiered-node-redis-6' (address: a redis url; a client passed in, which
 * the app closes itself). when: 'slow' (a call still computing at shutdown), 'after' (a call after
 * close), 'frozen' (closed with the server frozen: the test freezes it on `ready`), 'frozen-at-boot'
 * (the test froze it before the app started). Prints
 * `ready`, waits for a line on stdin, closes, prints `closed`.
 */
import 'reflect-metadata';
import { createInterface } from 'node:readline';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import * as redis5 from 'redis5';
import * as redis6 from 'redis';
import { CacheMemoize, CacheMemoizeModule, memcachedStore, memoryStore, redisStore, tieredStore } from '../../lib';

const [kind, address, when] = process.argv.slice(2);
type Client = { connect(): Promise<unknown>; destroy(): unknown };
const createClient = (kind.endsWith('5') ? redis5.createClient : redis6.createClient) as (options: object) => Client;
const nodeRedis = kind.startsWith('tiered-node-redis') ? createClient({ url: address }) : undefined;

@Injectable()
class Users {
  @CacheMemoize({ ttl: '1m' })
  async user(id: number): Promise<{ id: number }> {
    if (id === 4) await new Promise((r) => setTimeout(r, 500)); // a slow query, still running at shutdown
    return { id };
  }
}

async function main(): Promise<void> {
  await nodeRedis?.connect();
  const l2 = nodeRedis ? redisStore({ client: nodeRedis as never }) : memcachedStore({ servers: address });
  @Module({
    imports: [
      CacheMemoizeModule.forRoot({ stores: { default: kind === 'memcached' ? l2 : tieredStore(memoryStore(), l2) } }),
    ],
    providers: [Users],
  })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const users = app.get(Users);
  await users.user(1);
  await new Promise((r) => setTimeout(r, 200)); // a tiered store's bus subscribed
  process.stdout.write('ready\n');
  await new Promise((r) => createInterface({ input: process.stdin }).once('line', r));
  process.stdin.destroy();
  if (when === 'slow') {
    const slow = users.user(4).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    await app.close();
    await slow; // its entry is written after the store closed
  } else {
    await app.close();
    if (when === 'after') await users.user(3).catch(() => undefined); // e.g. a timer of the app firing after close
  }
  await nodeRedis?.destroy();
  process.stdout.write('closed\n');
}
void main();
