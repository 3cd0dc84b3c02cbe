import 'reflect-metadata';
import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  type INestApplication,
  Injectable,
  Module,
  type NestInterceptor,
  Param,
  Redirect,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { map, type Observable } from 'rxjs';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';
import { settle } from '../support/settle';

/*
 * Hits answered with the JSON text stored with the entry (lib/interceptor/hit-reply.ts): the same
 * bytes and headers as the miss, and no serialization per hit — but only where nothing else would
 * see the value; everywhere else a hit is serialized again, as the miss was.
 */
let serializations = 0;

/** Counts how often a body holding it is serialized. */
class Counted {
  constructor(readonly id: string) {}
  toJSON() {
    serializations++;
    return { id: this.id, kind: 'counted' };
  }
}

@Controller('j')
class JsonController {
  @Get('doc/:id') @CacheMemoize({ ttl: '1m' }) doc(@Param('id') id: string) {
    return { id, items: [new Counted(id), { n: 1 }], note: 'ünïcödé ✓' };
  }

  @Get('list') @CacheMemoize({ ttl: '1m' }) list() {
    return [1, 'two', { three: 3 }];
  }

  @Get('typed') @Header('Content-Type', 'application/vnd.api+json') @CacheMemoize({ ttl: '1m' }) typed() {
    return { data: { type: 'doc', id: '1' } };
  }

  @Get('go') @Redirect('/default', 302) @CacheMemoize({ ttl: '1m' }) go() {
    return { url: '/target' };
  }
}

/** An outer interceptor that changes every response: hits must go through it too. */
@Injectable()
class EnvelopeInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((data) => ({ data, at: 'envelope' })));
  }
}

type Setup = (app: INestApplication) => void;

async function start(adapter: ExpressAdapter | FastifyAdapter, outer: boolean, setup?: Setup) {
  @Module({
    imports: [CacheMemoizeModule.forRoot({})],
    controllers: [JsonController],
    providers: outer ? [{ provide: APP_INTERCEPTOR, useClass: EnvelopeInterceptor }] : [],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, adapter, { logger: false });
  setup?.(app);
  await app.listen(0, '127.0.0.1');
  return { app, http: request(app.getHttpServer()) };
}

/** Miss, then hits: every hit's status, headers and bytes are the miss's. */
async function missThenHits(app: INestApplication, http: ReturnType<typeof request>, path: string) {
  const miss = await http.get(path);
  expect(miss.headers['x-cache']).toBe('MISS');
  await settle(app); // stored once the response is out
  const hit = await http.get(path);
  expect(hit.headers['x-cache']).toBe('HIT');
  expect(hit.status).toBe(miss.status);
  expect(hit.text).toBe(miss.text);
  for (const h of ['content-type', 'content-length', 'location']) expect(hit.headers[h]).toBe(miss.headers[h]);
  return { miss, hit };
}

const adapters = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const;

describe.each(adapters)('hits answered with stored JSON over %s', (name, makeAdapter) => {
  describe('the interceptor alone', () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    beforeAll(async () => ({ app, http } = await start(makeAdapter(), false)));
    afterAll(() => app.close());

    it('sends the bytes and headers of the miss, and serializes nothing per hit', async () => {
      const { hit } = await missThenHits(app, http, '/j/doc/1');
      expect(hit.body).toEqual({ id: '1', items: [{ id: '1', kind: 'counted' }, { n: 1 }], note: 'ünïcödé ✓' });
      expect(hit.headers['content-type']).toBe('application/json; charset=utf-8');
      const before = serializations;
      await http.get('/j/doc/1').expect(200);
      await http.head('/j/doc/1').expect(200);
      expect(serializations).toBe(before);
    });

    it('arrays, a declared JSON Content-Type, a 304 on the stored ETag', async () => {
      await missThenHits(app, http, '/j/list');
      const { hit } = await missThenHits(app, http, '/j/typed');
      expect(hit.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
      await http
        .get('/j/list')
        .set('If-None-Match', hit.headers.etag as string)
        .expect((res) => expect(res.status).toBe(200)); // another route's ETag
      const list = await http.get('/j/list').expect(200);
      await http
        .get('/j/list')
        .set('If-None-Match', list.headers.etag as string)
        .expect(304);
    });

    it("the miss carries the ETag hits send: revalidating with the first response's gets a 304", async () => {
      const { miss, hit } = await missThenHits(app, http, '/j/doc/etag');
      expect(miss.headers.etag).toMatch(/^"[\w-]+"$/); // strong, not the framework's weak one
      expect(hit.headers.etag).toBe(miss.headers.etag);
      await http
        .get('/j/doc/etag')
        .set('If-None-Match', miss.headers.etag as string)
        .expect(304);
    });

    it('a reload (request Cache-Control: no-cache) gets the full body on both adapters, as Express decides', async () => {
      const { hit } = await missThenHits(app, http, '/j/doc/reload');
      const etag = hit.headers.etag as string;
      for (const cacheControl of ['no-cache', 'max-age=0, no-cache']) {
        const reload = await http.get('/j/doc/reload').set('If-None-Match', etag).set('Cache-Control', cacheControl);
        expect([cacheControl, reload.status, reload.headers['x-cache']]).toEqual([cacheControl, 200, 'HIT']);
        expect(reload.body).toEqual(hit.body);
      }
      // Other directives leave revalidation as it was.
      await http.get('/j/doc/reload').set('If-None-Match', etag).set('Cache-Control', 'max-age=0').expect(304);
    });

    it('@Redirect reads the value: a hit redirects where the miss did', async () => {
      const { hit } = await missThenHits(app, http, '/j/go');
      expect(hit.status).toBe(302);
      expect(hit.headers.location).toBe('/target');
    });
  });

  describe('under an outer interceptor that changes the response', () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    beforeAll(async () => ({ app, http } = await start(makeAdapter(), true)));
    afterAll(() => app.close());

    it('every hit goes through it and is serialized again', async () => {
      const { hit } = await missThenHits(app, http, '/j/doc/2');
      expect(hit.body).toEqual({ data: expect.objectContaining({ id: '2' }), at: 'envelope' });
      const before = serializations;
      await http.get('/j/doc/2').expect(200);
      expect(serializations).toBe(before + 1);
    });
  });

  describe("with the framework's JSON customized", () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    const customize: Setup =
      name === 'express'
        ? (a) => {
            const express = a as NestExpressApplication;
            express.set('json spaces', 2);
            // A middleware wrapping res.json, as response-envelope packages do.
            express.use((_req: unknown, res: { json(body: unknown): unknown }, next: () => void) => {
              const json = res.json.bind(res);
              res.json = (body: unknown) => json({ wrapped: body });
              next();
            });
          }
        : (a) => {
            const fastify = (a as NestFastifyApplication).getHttpAdapter().getInstance();
            fastify.addHook('preSerialization', async (_req: unknown, _reply: unknown, payload: unknown) =>
              typeof payload === 'object' && payload !== null ? { ...payload, pre: true } : payload,
            );
            fastify.setReplySerializer((payload) => JSON.stringify(payload, null, 1));
          };
    beforeAll(async () => ({ app, http } = await start(makeAdapter(), false, customize)));
    afterAll(() => app.close());

    it('hits are serialized by it, as the miss was', async () => {
      const { hit } = await missThenHits(app, http, '/j/doc/3');
      if (name === 'express') {
        expect(hit.body).toEqual({ wrapped: expect.objectContaining({ id: '3' }) });
        expect(hit.text).toContain('\n  "wrapped"');
      } else {
        expect(hit.body).toEqual(expect.objectContaining({ id: '3', pre: true }));
        expect(hit.text).toContain('\n "id"');
      }
    });
  });

  if (name === 'express')
    describe('with express.response.json patched for every app (a redaction layer), after the module loaded', () => {
      let app: INestApplication;
      let http: ReturnType<typeof request>;
      type Json = (this: unknown, body: unknown) => unknown;
      // The very object Express's responses inherit from
      const proto = (require('express') as { response: { json: Json } }).response;
      const original = proto.json;
      beforeAll(async () => {
        proto.json = function redact(this: unknown, body: unknown) {
          return original.call(this, { ...(body as object), note: '[redacted]' });
        };
        ({ app, http } = await start(makeAdapter(), false));
      });
      afterAll(async () => {
        proto.json = original;
        await app.close();
      });

      it('every hit goes through the patch, as the miss did', async () => {
        const { hit } = await missThenHits(app, http, '/j/doc/patched');
        expect(hit.body).toEqual(expect.objectContaining({ id: 'patched', note: '[redacted]' }));
        expect(hit.text).not.toContain('ünïcödé');
      });
    });
});
