import { Injectable, Logger, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { notModified } from '../interceptor/conditional';

type Done = (error: null, payload: unknown) => void;
interface FastifyLike {
  addHook(
    name: 'onSend',
    hook: (
      request: object,
      reply: { statusCode: number; code(status: number): unknown },
      payload: unknown,
      done: Done,
    ) => void,
  ): unknown;
}
const hooked = new WeakSet<object>();

/**
 * Fastify has no conditional GET of its own (Express answers If-None-Match from the ETag header):
 * responses served from the cache whose ETag matched are answered 304 here, after Nest set the
 * status it replies with.
 */
@Injectable()
export class FastifyConditionalGet implements OnModuleInit {
  constructor(@Optional() private readonly host?: HttpAdapterHost) {}

  onModuleInit(): void {
    const adapter = this.host?.httpAdapter as HttpAdapterHost['httpAdapter'] | null | undefined; // null: a microservice
    if (adapter === undefined || adapter === null || adapter.getType() !== 'fastify') return;
    const fastify = adapter.getInstance<FastifyLike>();
    if (hooked.has(fastify)) return;
    try {
      fastify.addHook('onSend', (request, reply, payload, done) => {
        if (reply.statusCode === 200 && notModified.has(request)) {
          reply.code(304);
          return done(null, '');
        }
        done(null, payload);
      });
      hooked.add(fastify);
    } catch (error) {
      new Logger('CacheMemoize').warn(
        `cached responses cannot be answered 304 on this Fastify instance: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
