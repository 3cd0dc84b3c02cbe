/*
 * Review of 952e4c1: the warning for a handler with its own @CacheMemoize and a write came once per
 * interceptor bound to it (2 with a route interceptor, 3 with a global one as well). Once per handler;
 * never for a class-level @CacheMemoize over a write (left out on purpose).
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  Injectable,
  Logger,
  Module,
  Post,
  UseInterceptors,
  type Type,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeInterceptor, CacheMemoizeModule, InvalidateTags } from '../../lib';

@Injectable()
class TenantInterceptor extends CacheMemoizeInterceptor {
  protected override trackBy(...args: Parameters<CacheMemoizeInterceptor['trackBy']>): unknown {
    const base = super.trackBy(...args);
    return base === undefined ? undefined : { base, tenant: args[1].headers['x-tenant'] };
  }
}

let runs = 0;
@Controller('w')
class WController {
  @Get('both') @CacheMemoize({ ttl: '1m' }) @InvalidateTags(['x']) both() {
    return { run: ++runs };
  }
  @Get('sub') @UseInterceptors(TenantInterceptor) @CacheMemoize({ ttl: '1m' }) @InvalidateTags(['x']) sub() {
    return { run: ++runs };
  }
}
@Controller('cls')
@CacheMemoize({ ttl: '1m' })
class ClassLevel {
  @Post('write') @InvalidateTags(['x']) write() {
    return { run: ++runs };
  }
  @Get('read') read() {
    return { run: ++runs };
  }
}

async function start(global?: Type<NestInterceptor>) {
  @Module({
    imports: [CacheMemoizeModule.forRoot({})],
    controllers: [WController, ClassLevel],
    providers: global === undefined ? [] : [{ provide: APP_INTERCEPTOR, useClass: global }],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, http: request(app.getHttpServer()) };
}

describe.each([
  ['no global', undefined],
  ['global plain', CacheMemoizeInterceptor],
  ['global subclass', TenantInterceptor],
] as const)('%s', (_n, global) => {
  it('warns once per handler, and never for class-level + write', async () => {
    const lines: string[] = [];
    const spy = jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void lines.push(String(m)));
    const { app, http } = await start(global as never);
    try {
      for (let i = 0; i < 3; i++) {
        await http.get('/w/both').set('x-tenant', 'a').expect(200);
        await http.get('/w/sub').set('x-tenant', 'a').expect(200);
        await http.post('/cls/write').set('x-tenant', 'a').expect(201);
        await http.get('/cls/read').set('x-tenant', 'a').expect(200);
      }
      const w = lines.filter((l) => l.includes('has @CacheMemoize and a write'));
      expect({
        both: w.filter((l) => l.includes('WController.both')).length,
        sub: w.filter((l) => l.includes('WController.sub')).length,
        cls: w.filter((l) => l.includes('ClassLevel')).length,
      }).toEqual({ both: 1, sub: 1, cls: 0 });
    } finally {
      spy.mockRestore();
      await app.close();
    }
  });
});
