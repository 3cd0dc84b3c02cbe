import 'reflect-metadata';
import { Readable } from 'node:stream';
import type { ExecutionContext } from '@nestjs/common';
import { adapterKind, jsonBody, outermost } from '../../lib/interceptor/hit-reply';
import type { HttpAdapterLike } from '../../lib/types/request';

/** When a hit may send the stored JSON text instead of a copy of the body (lib/interceptor/hit-reply.ts). */
describe('hits answered with stored JSON', () => {
  it('only a single JSON object or array body has a JSON text', () => {
    expect(jsonBody([{ a: 1 }])).toBe('{"a":1}');
    expect(jsonBody([[1, 'x']])).toBe('[1,"x"]');
    expect(jsonBody([{ toJSON: () => ({ b: 2 }) }])).toBe('{"b":2}');
    expect(jsonBody([{ a: 1 }, { a: 2 }])).toBeUndefined(); // an Observable's emissions
    expect(jsonBody(['text'])).toBeUndefined();
    expect(jsonBody([42])).toBeUndefined();
    expect(jsonBody([null])).toBeUndefined();
    expect(jsonBody([Buffer.from('x')])).toBeUndefined();
    expect(jsonBody([new Uint8Array(2)])).toBeUndefined();
    expect(jsonBody([Readable.from(['x'])])).toBeUndefined();
    expect(jsonBody([new Error('e')])).toBeUndefined();
    expect(jsonBody([new Response('x')])).toBeUndefined();
    expect(jsonBody([{ toJSON: () => undefined }])).toBeUndefined();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(jsonBody([cyclic])).toBeUndefined();
  });

  describe('the interceptor must be the outermost one', () => {
    class Ours {
      intercept() {}
    }
    class Other {
      intercept() {}
    }
    const isOurs = (i: unknown) => i === Ours || i instanceof Ours;
    function context(classInterceptors: unknown[], handlerInterceptors: unknown[], extra?: [string, unknown]) {
      class Controller {}
      const handler = () => undefined;
      Reflect.defineMetadata('__interceptors__', classInterceptors, Controller);
      Reflect.defineMetadata('__interceptors__', handlerInterceptors, handler);
      if (extra !== undefined) Reflect.defineMetadata(extra[0], extra[1], handler);
      return { getClass: () => Controller, getHandler: () => handler } as unknown as ExecutionContext;
    }

    it('first of global, controller and handler interceptors', () => {
      expect(outermost(context([], [Ours]), [], isOurs)).toBe(true);
      expect(outermost(context([], [Ours]), [new Ours()], isOurs)).toBe(true);
      expect(outermost(context([Ours], [Other]), [], isOurs)).toBe(true);
      expect(outermost(context([], [Other, Ours]), [], isOurs)).toBe(false);
      expect(outermost(context([Other], [Ours]), [], isOurs)).toBe(false);
      expect(outermost(context([], [Ours]), [new Other()], isOurs)).toBe(false);
      // Not known: assume another interceptor is there.
      expect(outermost(context([], [Ours]), undefined, isOurs)).toBe(false);
    });

    it('never for handlers whose value Nest reads itself', () => {
      expect(outermost(context([], [Ours], ['__redirect__', { url: '/x' }]), [], isOurs)).toBe(false);
      expect(outermost(context([], [Ours], ['__renderTemplate__', 'index']), [], isOurs)).toBe(false);
      expect(outermost(context([], [Ours], ['__sse__', true]), [], isOurs)).toBe(false);
    });
  });

  it("only with Nest's own adapters (or subclasses that keep their reply)", () => {
    const reply = () => undefined;
    class ExpressAdapter {}
    Object.defineProperty(ExpressAdapter.prototype, 'reply', { value: reply });
    class FastifyAdapter {}
    Object.defineProperty(FastifyAdapter.prototype, 'reply', { value: reply });
    class MyFastify extends FastifyAdapter {}
    class Enveloping extends FastifyAdapter {}
    Object.defineProperty(Enveloping.prototype, 'reply', { value: () => undefined });
    const as = (a: object) => a as unknown as HttpAdapterLike;
    expect(adapterKind(as(new ExpressAdapter()))).toBe('express');
    expect(adapterKind(as(new FastifyAdapter()))).toBe('fastify');
    expect(adapterKind(as(new MyFastify()))).toBe('fastify');
    expect(adapterKind(as(new Enveloping()))).toBeUndefined();
    expect(adapterKind(as({ reply }))).toBeUndefined();
    expect(adapterKind(undefined)).toBeUndefined();
  });
});
