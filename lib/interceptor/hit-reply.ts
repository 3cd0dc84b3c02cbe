import type { ExecutionContext } from '@nestjs/common';
import type { HttpAdapterLike } from '../types/request';
import { classOf, interceptorChain } from './bindings';
import { expressJson } from './express-json';
import type { HttpResponseLike } from './response-meta';

/**
 * Hits answered with the JSON text of the stored body. Nest would send the body with
 * `res.json()` (Express) or `reply.send()` (Fastify), both `JSON.stringify` on their defaults;
 * a hit hands Nest the text that produced, computed once when the entry was stored, with the
 * Content-Type those would set — the same bytes without a copy of the body or a serialization
 * per request. Only where nothing could tell the difference:
 *  - the interceptor is the outermost of the route's interceptors, but for ours that pass the
 *    request on (no other interceptor sees the value: ClassSerializerInterceptor or one that adds
 *    a field to it run outside, and then every hit gets its own copy of the body instead), and
 *    does not override `intercept`;
 *  - the handler has no `@Render`, `@Redirect` or `@Sse` (those read the value itself);
 *  - the body is one JSON object or array (not bytes, a stream, an Error or a fetch Response);
 *  - the framework would serialize it with `JSON.stringify`: Express with no `json replacer`,
 *    `json spaces` or `json escape`, and `res.json` Express's own (express-json.ts); Fastify with no preSerialization
 *    hook, reply or default serializer, or response schema on the route.
 */

const RENDER_METADATA = '__renderTemplate__';
const REDIRECT_METADATA = '__redirect__';
const SSE_METADATA = '__sse__';

/** The JSON text of an entry's body, kept beside the entry object in this process (never stored). */
const texts = new WeakMap<object, string>();

/** The JSON of a single object or array body; undefined for anything Nest would not send as JSON. */
export function jsonBody(values: readonly unknown[]): string | undefined {
  if (values.length !== 1) return undefined;
  const body = values[0];
  if (typeof body !== 'object' || body === null || ArrayBuffer.isView(body) || body instanceof ArrayBuffer)
    return undefined;
  // Fastify sends an Error, and a fetch Response, its own way.
  if (body instanceof Error || Object.prototype.toString.call(body) === '[object Response]') return undefined;
  // Nest's reply() forces a JSON Content-Type on a body whose statusCode is 400 or more; text would keep the route's.
  if ('statusCode' in body) return undefined;
  const like = body as { pipe?: unknown; getReader?: unknown; buffer?: unknown };
  if (typeof like.pipe === 'function' || typeof like.getReader === 'function' || like.buffer instanceof ArrayBuffer)
    return undefined;
  try {
    const json = JSON.stringify(body);
    return typeof json === 'string' ? json : undefined;
  } catch {
    return undefined;
  }
}

export function rememberJson(entry: object, json: string): void {
  texts.set(entry, json);
}

/**
 * The entry's JSON: kept since it was stored in this process, else computed now (an entry read
 * from a shared store is a new object on every hit: nothing to keep it on).
 */
export function jsonOf(entry: { values: readonly unknown[] }): string | undefined {
  return texts.get(entry) ?? jsonBody(entry.values);
}

/**
 * Whether the interceptor of class `answering` answers before any interceptor that could see the
 * value: all that run outside it are ours and pass requests on untouched (`transparent`).
 * Undefined globals (not known): false.
 */
export function answersFirst(
  context: ExecutionContext,
  globals: readonly unknown[] | undefined,
  answering: Function,
  transparent: (interceptor: unknown) => boolean,
): boolean {
  if (globals === undefined) return false;
  const handler = context.getHandler();
  if (
    Reflect.getMetadata(RENDER_METADATA, handler) !== undefined ||
    Reflect.getMetadata(REDIRECT_METADATA, handler) !== undefined ||
    Reflect.getMetadata(SSE_METADATA, handler) !== undefined
  )
    return false;
  const chain = interceptorChain(context, globals);
  const at = chain.findIndex((i) => classOf(i) === answering);
  return at >= 0 && chain.slice(0, at).every(transparent);
}

/** Which framework serializes this app's replies, when Nest's own adapter (or a subclass keeping its `reply`) sends them. */
export function adapterKind(adapter: HttpAdapterLike | undefined): 'express' | 'fastify' | undefined {
  if (adapter === undefined) return undefined;
  for (
    let proto = Object.getPrototypeOf(adapter) as object | null;
    proto !== null;
    proto = Object.getPrototypeOf(proto)
  ) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name;
    if (name !== 'ExpressAdapter' && name !== 'FastifyAdapter') continue;
    if ((adapter as { reply?: unknown }).reply !== (proto as { reply?: unknown }).reply) return undefined;
    return name === 'ExpressAdapter' ? 'express' : 'fastify';
  }
  return undefined;
}

/**
 * Prepares `response` — whose framework sends bodies as given (`sendsAsGiven`) — for the JSON text
 * of its body and says whether it may be sent as is: the Content-Type the framework would set,
 * when none is set yet.
 */
export function acceptsJsonText(
  kind: 'express' | 'fastify',
  adapter: HttpAdapterLike,
  response: HttpResponseLike,
): boolean {
  const type = response.getHeader?.('content-type');
  if (kind === 'express') {
    // res.json(): 'application/json' unless a type is set; res.send() adds the charset either way.
    if (type === undefined) adapter.setHeader(response, 'Content-Type', 'application/json');
    return true;
  }
  if (type === undefined) adapter.setHeader(response, 'content-type', 'application/json; charset=utf-8');
  // A JSON type gets its charset from send() as a serialized body does; any other type would not take an object.
  else if (typeof type !== 'string' || !type.includes('json')) return false;
  return true;
}

/**
 * Whether the framework sends a body as `JSON.stringify` makes it, with no serializer, hook or
 * wrapper of its own that could drop or add a field (see the list above): only then is a hash of
 * the stored value a hash of what is sent.
 */
export function sendsAsGiven(kind: 'express' | 'fastify', response: HttpResponseLike): boolean {
  return kind === 'express' ? expressDefaultJson(response) : fastifyDefaultJson(response);
}

function expressDefaultJson(res: HttpResponseLike): boolean {
  const app = (res as { app?: { get?(setting: string): unknown } }).app;
  if (app === undefined || typeof app.get !== 'function') return false;
  // A middleware or patch that wraps res.json (an envelope, a logger, a redaction layer) must see every body.
  if ((res as { json?: unknown }).json !== expressJson || expressJson === undefined) return false;
  return app.get('json replacer') === undefined && app.get('json spaces') === undefined && !app.get('json escape');
}

interface FastifySymbols {
  context: symbol;
  serializer: symbol;
  defaultSerializer: symbol;
}
/** Fastify's private symbols, found by their descriptions; null when this Fastify has other internals. */
let fastifySymbols: FastifySymbols | null | undefined;

function symbolNamed(target: object | undefined, description: string): symbol | undefined {
  for (let o = target; o !== undefined && o !== null; o = Object.getPrototypeOf(o) as object | undefined)
    for (const s of Object.getOwnPropertySymbols(o)) if (s.description === description) return s;
  return undefined;
}

function fastifyDefaultJson(reply: HttpResponseLike): boolean {
  const r = reply as Record<symbol, unknown> & { request?: Record<symbol, unknown> };
  if (fastifySymbols === undefined) {
    const context = symbolNamed(r.request, 'fastify.context');
    const serializer = symbolNamed(r, 'fastify.reply.serializer');
    const ctx = context === undefined ? undefined : (r.request?.[context] as object | undefined);
    const defaultSerializer = symbolNamed(ctx, 'fastify.replySerializerDefault');
    fastifySymbols =
      context !== undefined && serializer !== undefined && defaultSerializer !== undefined
        ? { context, serializer, defaultSerializer }
        : null;
  }
  if (fastifySymbols === null || r.request === undefined) return false;
  const ctx = r.request[fastifySymbols.context] as
    (Record<symbol, unknown> & { preSerialization?: unknown; schema?: { response?: unknown } }) | undefined;
  return (
    ctx !== undefined &&
    r[fastifySymbols.serializer] === null &&
    ctx.preSerialization === null &&
    (ctx[fastifySymbols.defaultSerializer] ?? null) === null &&
    ctx.schema?.response === undefined
  );
}
