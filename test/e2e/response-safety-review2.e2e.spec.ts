import 'reflect-metadata';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import {
  Body,
  Controller,
  Get,
  Header,
  Injectable,
  type INestApplication,
  type MiddlewareConsumer,
  Module,
  type NestMiddleware,
  Post,
  Req,
  Res,
  Sse,
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter, FileInterceptor } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { interval, map } from 'rxjs';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeInterceptor, CacheMemoizeModule } from '../../lib';
import { settle } from '../support/settle';

/*
 * A second adversarial review of the HTTP interceptor found these, each reproduced on the code
 * before its fix: an @Sse stream buffered forever by a global binding, one slow or departed client
 * holding every request that joined its computation for the 5 s confirmation wait, a user set by
 * a Nest middleware on Fastify (it lands on the Node request) not seen, file uploads on a cached
 * POST sharing one entry, a HEAD whose handler skips the body emptying the GET entry, and a static
 * `Vary: *` cached. Stored-or-not is visible: a response the cache ran but did not keep says BYPASS.
 */
const runs: Record<string, number> = {};
const count = (name: string) => (runs[name] = (runs[name] ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BIG = Array.from({ length: 100_000 }, (_, i) => `item-${i}-${'x'.repeat(60)}`); // ~7 MB of JSON

type AnyReq = { method: string; user?: { name: string }; raw?: { user?: { name: string } } };

/** Session auth in a Nest middleware (on Fastify, middleware gets the Node request). */
@Injectable()
class SessionMiddleware implements NestMiddleware {
  use(req: { headers: Record<string, string>; user?: unknown }, _res: unknown, next: () => void) {
    const session = req.headers['x-session'];
    if (session !== undefined) req.user = { name: `user-${session}` };
    next();
  }
}

@Controller('r')
class ReviewController {
  @Sse('events') events() {
    return interval(20).pipe(map((i) => ({ data: { i } })));
  }

  @Get('big') @CacheMemoize() big() {
    count('big');
    return { items: BIG };
  }

  @Get('slow') @CacheMemoize() async slow() {
    count('slow');
    await sleep(300);
    return { ok: true };
  }

  @Get('me') @CacheMemoize() me(@Req() req: AnyReq) {
    count('me');
    return { name: (req.user ?? req.raw?.user)?.name ?? 'anonymous' };
  }

  @Get('doc') @CacheMemoize() doc(@Req() req: AnyReq) {
    count('doc');
    return req.method === 'HEAD' ? {} : { title: 'the document', pages: 300 }; // HEAD needs no body
  }

  @Get('star') @Header('Vary', '*') @CacheMemoize() star() {
    return { run: count('star') };
  }

  @Get('cookie') @CacheMemoize() cookie(@Res({ passthrough: true }) res: { header?: unknown; setHeader?: unknown }) {
    const set = (typeof res.header === 'function' ? res.header : res.setHeader) as (n: string, v: string) => void;
    set.call(res, 'Set-Cookie', 'sid=1');
    return { run: count('cookie') };
  }
}

type File = { buffer: Buffer; originalname: string };
const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

@Controller('u')
class UploadController {
  /** The cache outside multer: the file is not parsed yet when the key is built. */
  @Post('outer') @CacheMemoize({ httpMethods: ['POST'] }) @UseInterceptors(FileInterceptor('file')) outer(
    @UploadedFile() file: File,
    @Body() body: Record<string, string>,
  ) {
    return { sha: digest(file.buffer), name: file.originalname, note: body.note };
  }

  /** Multer outside the cache: the file is parsed, but not in the body the key reads. */
  @Post('inner') @UseInterceptors(FileInterceptor('file')) @CacheMemoize({ httpMethods: ['POST'] }) inner(
    @UploadedFile() file: File,
    @Body() body: Record<string, string>,
  ) {
    return { sha: digest(file.buffer), name: file.originalname, note: body.note };
  }
}

const adapters = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const;

async function start(adapter: ExpressAdapter | FastifyAdapter, global: boolean): Promise<INestApplication> {
  const controllers = adapter instanceof ExpressAdapter ? [ReviewController, UploadController] : [ReviewController];
  @Module({
    imports: [CacheMemoizeModule.forRoot({})],
    controllers,
    providers: global ? [{ provide: APP_INTERCEPTOR, useClass: CacheMemoizeInterceptor }] : [],
  })
  class AppModule {
    configure(consumer: MiddlewareConsumer) {
      consumer.apply(SessionMiddleware).forRoutes('*');
    }
  }
  const app = await NestFactory.create(AppModule, adapter, { logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

const portOf = (app: INestApplication) => (app.getHttpServer().address() as AddressInfo).port;

/** The first chunk of an event stream, or null if none came in 5 s (the stream is held back). */
function firstEvent(port: number, path: string): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (!chunk.includes('data:')) return;
        clearTimeout(timer);
        req.destroy();
        resolve(chunk);
      });
    });
    req.on('error', () => undefined);
    const timer = setTimeout(() => {
      req.destroy();
      resolve(null);
    }, 5_000);
  });
}

/** A raw client that sends one GET and then never reads. */
async function stalledClient(port: number, path: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  return socket;
}

beforeEach(() => {
  for (const k of Object.keys(runs)) delete runs[k];
});

describe.each(adapters)('response safety, second review, over %s', (name, makeAdapter) => {
  describe('bound globally', () => {
    let app: INestApplication;
    beforeAll(async () => (app = await start(makeAdapter(), true)));
    afterAll(() => app.close());

    it('an @Sse route streams (an endless stream is never buffered for the cache)', async () => {
      expect(await firstEvent(portOf(app), '/r/events')).toContain('data:');
    });
  });

  describe('on routes', () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;
    beforeAll(async () => {
      app = await start(makeAdapter(), false);
      http = request(app.getHttpServer());
    });
    afterAll(() => app.close());

    it('a client that never reads its response does not hold back the entry from the next request', async () => {
      const stalled = await stalledClient(portOf(app), '/r/big');
      try {
        while (runs.big === undefined) await sleep(10); // its handler ran; the body cannot all go out
        await sleep(50);
        const next = await http.get('/r/big').expect(200);
        expect(next.body.items).toHaveLength(BIG.length);
        expect(runs.big).toBe(1); // served the stalled client's entry, not its own run after a wait
      } finally {
        stalled.destroy();
      }
    });

    it('a client that leaves during the computation does not hold back those that joined it', async () => {
      const quitter = await stalledClient(portOf(app), '/r/slow');
      while (runs.slow === undefined) await sleep(5);
      quitter.destroy(); // gone before the handler answers: its entry can never be confirmed
      // Before, the joined request waited out the whole 5 s confirmation wait, then ran its own handler.
      const joined = await Promise.race([http.get('/r/slow'), sleep(4_000).then(() => 'held back')]);
      expect(joined).toMatchObject({ status: 200, body: { ok: true } });
      expect(runs.slow).toBe(2); // unconfirmed: the joined request ran the handler itself
    });

    it('a user a Nest middleware set is identified: never served to another user', async () => {
      const alice = await http.get('/r/me').set('X-Session', 'alice').expect(200);
      await settle(app);
      const bob = await http.get('/r/me').set('X-Session', 'bob').expect(200);
      expect(alice.body.name).toBe('user-alice');
      expect(bob.body.name).toBe('user-bob');
      expect(bob.headers['x-cache']).toBe('BYPASS');
    });

    it('HEAD is answered from the GET entry but never fills it', async () => {
      const head = await http.head('/r/doc').expect(200);
      expect(head.headers['x-cache']).toBe('BYPASS');
      await settle(app);
      const get = await http.get('/r/doc').expect(200);
      expect(get.body).toEqual({ title: 'the document', pages: 300 });
      expect(get.headers['x-cache']).toBe('MISS');
      await settle(app);
      const hit = await http.head('/r/doc').expect(200);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(runs.doc).toBe(2);
    });

    it('a static Vary: * is never cached', async () => {
      await http.get('/r/star').expect(200);
      await settle(app);
      const second = await http.get('/r/star').expect(200);
      expect(second.body.run).toBe(2);
      expect(second.headers['x-cache']).toBe('BYPASS');
    });

    it('a response the cache ran but did not keep (Set-Cookie) says BYPASS', async () => {
      const first = await http.get('/r/cookie').expect(200);
      expect(first.headers['x-cache']).toBe('BYPASS');
      await settle(app);
      const second = await http.get('/r/cookie').expect(200);
      expect(second.body.run).toBe(2);
    });

    if (name === 'express')
      for (const path of ['/u/outer', '/u/inner'])
        it(`two different uploads never share an answer (${path})`, async () => {
          const alice = Buffer.from('alice medical record');
          const bob = Buffer.from('bob holiday photo');
          const a = await http.post(path).field('note', 'x').attach('file', alice, 'alice.pdf').expect(201);
          await settle(app);
          const b = await http.post(path).field('note', 'x').attach('file', bob, 'bob.jpg').expect(201);
          expect(a.body.sha).toBe(digest(alice));
          expect({ sha: b.body.sha, name: b.body.name }).toEqual({ sha: digest(bob), name: 'bob.jpg' });
          expect(b.headers['x-cache']).toBe('BYPASS');
        });
  });
});
