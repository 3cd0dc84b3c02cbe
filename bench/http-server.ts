// One of the two apps the HTTP benchmark compares, run in its own process:
//   ours:          @CacheMemoize() (CacheMemoizeInterceptor) on the memory store
//   cache-manager: @nestjs/cache-manager's CacheInterceptor on cache-manager 7's memory store
//   node bench/http-server.ts <ours|cache-manager> <port> <express|fastify> [library build dir]
// bench/http-inproc.ts imports createBenchApp() to serve both apps in one process without sockets.
import 'reflect-metadata';
import { CacheInterceptor, CacheModule } from '@nestjs/cache-manager';
import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  type INestApplication,
  Module,
  type NestInterceptor,
  Param,
  UseInterceptors,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { InterceptorsConsumer } from '@nestjs/core/interceptors/interceptors-consumer';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type * as Lib from 'nestjs-cache-memoize';
import { of } from 'rxjs';

const run = require.main === module;
// A build of the library to serve (bench/compare.bench.ts), else this checkout's source.
const { CacheMemoize, CacheMemoizeModule } = require(
  (run ? process.argv[5] : process.env.BENCH_LIB) ?? '../lib',
) as typeof Lib;
let coldRuns = 0;
const payload = { id: 1, name: 'Sencha', tags: ['tea', 'green'], price: 12.5, stock: 40 };
/** About 8 KB of JSON: a page of 37 products (8,173 bytes). */
const page = {
  page: 1,
  items: Array.from({ length: 37 }, (_, i) => ({
    id: i + 1,
    name: `Product number ${i + 1}`,
    description: 'A green tea from the hills, steamed and rolled; sold loose by the gram.',
    tags: ['tea', 'green', i % 2 === 0 ? 'organic' : 'classic'],
    price: 12.5 + i,
    stock: 40 - i,
    updatedAt: '2026-11-22T10:00:00.000Z',
  })),
};

/** Does nothing: what any interceptor costs a route in Nest (the floor under a cached route's hit). */
class PassThrough implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle();
  }
}

/** Answers without the handler and does nothing else: the floor under any interceptor's cache hit. */
class Constant implements NestInterceptor {
  intercept() {
    return of(payload);
  }
}

/**
 * Marks a route whose only interceptor Nest's consumer skips, in this benchmark's process only: the
 * body comes back without any of the interceptor machinery (no context, no Observable). What a hit
 * could cost at the very least, whatever served it, after guards.
 */
class Bypassed implements NestInterceptor {
  intercept() {
    return of(payload);
  }
}
const consume = InterceptorsConsumer.prototype.intercept;
InterceptorsConsumer.prototype.intercept = function (this: InterceptorsConsumer, ...args: Parameters<typeof consume>) {
  const interceptors = args[0];
  if (interceptors.length === 1 && interceptors[0] instanceof Bypassed) return Promise.resolve(payload);
  return consume.apply(this, args);
};

@Controller()
class OursController {
  @Get('cached') @CacheMemoize({ ttl: '1h' }) cached() {
    return payload;
  }
  @Get('plain') plain() {
    return payload;
  }
  @Get('pass-through') @UseInterceptors(PassThrough) passThrough() {
    return payload;
  }
  @Get('constant') @UseInterceptors(Constant) constant() {
    return payload;
  }
  @Get('bypassed') @UseInterceptors(Bypassed) bypassed() {
    return payload;
  }
  @Get('big') @CacheMemoize({ ttl: '1h' }) big() {
    return page;
  }
  @Get('cold/:n') @CacheMemoize({ ttl: '1h' }) async cold(@Param('n') n: string) {
    coldRuns++;
    await new Promise((r) => setTimeout(r, 20));
    return { n };
  }
  @Get('runs') runs() {
    return { coldRuns };
  }
  /** The server's CPU time so far: the benchmark divides it by the requests served. */
  @Get('cpu') cpu() {
    return process.cpuUsage();
  }
}

@Controller()
class CacheManagerController {
  @Get('cached') @UseInterceptors(CacheInterceptor) cached() {
    return payload;
  }
  @Get('plain') plain() {
    return payload;
  }
  @Get('big') @UseInterceptors(CacheInterceptor) big() {
    return page;
  }
  @Get('cold/:n') @UseInterceptors(CacheInterceptor) async cold(@Param('n') n: string) {
    coldRuns++;
    await new Promise((r) => setTimeout(r, 20));
    return { n };
  }
  @Get('runs') runs() {
    return { coldRuns };
  }
  /** The server's CPU time so far: the benchmark divides it by the requests served. */
  @Get('cpu') cpu() {
    return process.cpuUsage();
  }
}

@Module({ imports: [CacheMemoizeModule.forRoot({ ttl: '1h' })], controllers: [OursController] })
class OursModule {}

@Module({ imports: [CacheModule.register({ ttl: 3_600_000 })], controllers: [CacheManagerController] })
class CacheManagerModule {}

export type BenchApp = 'ours' | 'cache-manager';

export function createBenchApp(which: BenchApp, adapter: 'express' | 'fastify'): Promise<INestApplication> {
  const module = which === 'ours' ? OursModule : CacheManagerModule;
  return adapter === 'fastify'
    ? NestFactory.create(module, new FastifyAdapter(), { logger: false })
    : NestFactory.create(module, { logger: false });
}

async function main(): Promise<void> {
  const app = await createBenchApp(
    process.argv[2] as BenchApp,
    (process.argv[4] ?? 'express') as 'express' | 'fastify',
  );
  await app.listen(Number(process.argv[3]), '127.0.0.1');
  process.stdout.write('ready\n');
}
if (run) void main();
