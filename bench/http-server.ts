// One of the two apps the HTTP benchmark compares, run in its own process:
//   ours:          @CacheMemoize() (CacheMemoizeInterceptor) on the memory store
//   cache-manager: @nestjs/cache-manager's CacheInterceptor on cache-manager 7's memory store
import 'reflect-metadata';
import { CacheInterceptor, CacheModule } from '@nestjs/cache-manager';
import { Controller, Get, Module, Param, UseInterceptors } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type * as Lib from 'nestjs-cache-memoize';

const which = process.argv[2];
const port = Number(process.argv[3]);
// A build of the library to serve (bench/compare.bench.ts), else this checkout's source.

const { CacheMemoize, CacheMemoizeModule } = require(process.argv[4] ?? '../lib') as typeof Lib;
let coldRuns = 0;
const payload = { id: 1, name: 'Sencha', tags: ['tea', 'green'], price: 12.5, stock: 40 };

@Controller()
class OursController {
  @Get('cached') @CacheMemoize({ ttl: '1h' }) cached() {
    return payload;
  }
  @Get('plain') plain() {
    return payload;
  }
  @Get('cold/:n') @CacheMemoize({ ttl: '1h' }) async cold(@Param('n') n: string) {
    coldRuns++;
    await new Promise((r) => setTimeout(r, 20));
    return { n };
  }
  @Get('runs') runs() {
    return { coldRuns };
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
  @Get('cold/:n') @UseInterceptors(CacheInterceptor) async cold(@Param('n') n: string) {
    coldRuns++;
    await new Promise((r) => setTimeout(r, 20));
    return { n };
  }
  @Get('runs') runs() {
    return { coldRuns };
  }
}

@Module({ imports: [CacheMemoizeModule.forRoot({ ttl: '1h' })], controllers: [OursController] })
class OursModule {}

@Module({ imports: [CacheModule.register({ ttl: 3_600_000 })], controllers: [CacheManagerController] })
class CacheManagerModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(which === 'ours' ? OursModule : CacheManagerModule, { logger: false });
  await app.listen(port, '127.0.0.1');
  process.stdout.write('ready\n');
}
void main();
