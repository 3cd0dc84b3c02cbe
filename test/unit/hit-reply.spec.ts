import 'reflect-metadata';
import { Readable } from 'node:stream';
import type { ExecutionContext } from '@nestjs/common';
import { cachingClass } from '../../lib/interceptor/bindings';
import { adapterKind, answersFirst, jsonBody } from '../../lib/interceptor/hit-reply';
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

  describe("Express's own res.json, captured when the module loads (express-json.ts)", () => {
    type ExpressModule = { response: { json: unknown } };
    const load = (patchFirst: boolean) => {
      let captured: unknown;
      let express!: ExpressModule;
      jest.isolateModules(() => {
        express = jest.requireActual<ExpressModule>('express');
        if (patchFirst) {
          const json = express.response.json as (this: unknown, body: unknown) => unknown;
          express.response.json = function redact(this: unknown, body: unknown) {
            return json.call(this, { redacted: body !== undefined });
          };
        }
        captured = jest.requireActual<{ expressJson: unknown }>('../../lib/interceptor/express-json').expressJson;
      });
      return { captured, express };
    };

    it("is the function Express's responses have", () => {
      const { captured, express } = load(false);
      expect(typeof captured).toBe('function');
      expect(captured).toBe(express.response.json);
    });

    it('a patch applied before the module loaded is not taken for it: no hit skips res.json', () => {
      const { captured, express } = load(true);
      expect(typeof express.response.json).toBe('function');
      expect(captured).toBeUndefined();
    });
  });

  describe('the interceptor must answer before any other interceptor', () => {
    class Ours {
      intercept() {}
    }
    class Tenant extends Ours {}
    class Wrapping extends Ours {
      override intercept() {}
    }
    class Other {
      intercept() {}
    }
    const isOurs = (i: unknown) =>
      i === Ours || i instanceof Ours || (typeof i === 'function' && i.prototype instanceof Ours);
    const transparent = (i: unknown) =>
      isOurs(i) &&
      (typeof i === 'function' ? i.prototype.intercept : (i as Ours).intercept) === Ours.prototype.intercept;
    function context(classInterceptors: unknown[], handlerInterceptors: unknown[], extra?: [string, unknown]) {
      class Controller {}
      const handler = () => undefined;
      Reflect.defineMetadata('__interceptors__', classInterceptors, Controller);
      Reflect.defineMetadata('__interceptors__', handlerInterceptors, handler);
      if (extra !== undefined) Reflect.defineMetadata(extra[0], extra[1], handler);
      return { getClass: () => Controller, getHandler: () => handler } as unknown as ExecutionContext;
    }
    const first = (c: ExecutionContext, globals: unknown[] | undefined, answering: Function = Ours) =>
      answersFirst(c, globals, answering, transparent);

    it('first of global, controller and handler interceptors, but for ours passing requests on', () => {
      expect(first(context([], [Ours]), [])).toBe(true);
      expect(first(context([], [Ours]), [new Ours()])).toBe(true);
      expect(first(context([Ours], [Other]), [])).toBe(true);
      expect(first(context([], [Other, Ours]), [])).toBe(false);
      expect(first(context([Other], [Ours]), [])).toBe(false);
      expect(first(context([], [Ours]), [new Other()])).toBe(false);
      // A subclass answering inside a plain one: only ours run outside it.
      expect(first(context([Ours], [Tenant]), [new Ours()], Tenant)).toBe(true);
      expect(first(context([Ours], [Other, Tenant]), [], Tenant)).toBe(false);
      // One of ours that overrides intercept may change what passes through it.
      expect(first(context([], [Wrapping, Tenant]), [], Tenant)).toBe(false);
      // Not known: assume another interceptor is there.
      expect(first(context([], [Ours]), undefined)).toBe(false);
    });

    it('never for handlers whose value Nest reads itself', () => {
      expect(first(context([], [Ours], ['__redirect__', { url: '/x' }]), [])).toBe(false);
      expect(first(context([], [Ours], ['__renderTemplate__', 'index']), [])).toBe(false);
      expect(first(context([], [Ours], ['__sse__', true]), [])).toBe(false);
    });

    it('the innermost subclass caches the handler, else the plain interceptor', () => {
      class Other2 extends Ours {}
      expect(cachingClass([Ours], Ours, Ours, isOurs)).toBe(Ours);
      expect(cachingClass([new Ours(), Ours], Ours, Ours, isOurs)).toBe(Ours);
      expect(cachingClass([new Ours(), Tenant], Ours, Ours, isOurs)).toBe(Tenant);
      expect(cachingClass([Ours, Tenant, new Other()], Tenant, Ours, isOurs)).toBe(Tenant);
      expect(cachingClass([new Tenant(), Ours], Ours, Ours, isOurs)).toBe(Tenant);
      expect(cachingClass([new Tenant(), Other2], Tenant, Ours, isOurs)).toBe(Other2);
      // An instance missing from the chain (a global while globals are not known) is taken as outermost.
      expect(cachingClass([Ours], Tenant, Ours, isOurs)).toBe(Tenant);
      expect(cachingClass([Tenant], Ours, Ours, isOurs)).toBe(Tenant);
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
