import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { CacheMemoizeOptions } from '../cache-memoize.options';
import type { CacheRequest } from './cache-request';
import { encodeValue } from '../core/key-encoder';

export interface HttpRequestLike {
  method?: string;
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  headers?: Record<string, string | string[] | undefined>;
  user?: unknown;
}

/** Express response or Fastify reply: both have these. */
export interface HttpResponseLike {
  statusCode?: number;
  getHeader?(name: string): unknown;
  setHeader?(name: string, value: string): unknown;
}

const HTTP_CODE_METADATA = '__httpCode__';
const HEADERS_METADATA = '__headers__';
const PATTERN_METADATA = 'microservices:pattern';

/** What the interceptor knows of the request, per transport; undefined for WebSockets. */
export function describeRequest(context: ExecutionContext): CacheRequest | undefined {
  const type = context.getType<string>();
  if (type === 'http') {
    const req = context.switchToHttp().getRequest<HttpRequestLike>();
    return {
      transport: 'http',
      // Copies: frameworks hand out null-prototype or foreign-realm objects here.
      params: { ...req.params },
      query: { ...req.query },
      headers: req.headers ?? {},
      user: req.user,
      raw: req,
      context,
    };
  }
  if (type === 'rpc') {
    const rpc = context.switchToRpc();
    const patterns = Reflect.getMetadata(PATTERN_METADATA, context.getHandler()) as unknown[] | undefined;
    return {
      transport: 'rpc',
      params: {},
      query: {},
      headers: {},
      pattern: patterns?.length === 1 ? patterns[0] : patterns,
      data: rpc.getData(),
      raw: rpc.getContext(),
      context,
    };
  }
  if (type === 'graphql') {
    // [root, args, context, info] — read positionally so @nestjs/graphql stays optional.
    const [, args, gqlContext, info] = context.getArgs<[unknown, unknown, { req?: HttpRequestLike } | undefined, { parentType?: { name?: string }; fieldName?: string }]>();
    const req = gqlContext?.req;
    return {
      transport: 'graphql',
      params: {},
      query: {},
      headers: req?.headers ?? {},
      user: req?.user,
      pattern: `${info?.parentType?.name ?? '?'}.${info?.fieldName ?? '?'}`,
      data: args,
      raw: gqlContext ?? null,
      context,
    };
  }
  return undefined;
}

/**
 * The HTTP key value: params + query (+ vary), or undefined when this request must not be cached
 * (method not cacheable, or a user's credentials with no declared way to vary).
 */
export function httpTrackValue(request: CacheRequest, options: CacheMemoizeOptions<readonly unknown[], unknown>, vary: unknown): unknown {
  const req = request.raw as HttpRequestLike;
  const method = (req.method ?? 'GET').toUpperCase();
  const allowed = (options.httpMethods ?? ['GET', 'HEAD']).map((m) => m.toUpperCase());
  if (!allowed.includes(method)) return undefined;
  const h = request.headers;
  if ((h.authorization !== undefined || h.cookie !== undefined) && vary === undefined && options.public !== true) return undefined;
  return httpKeyPart(request.params, request.query, vary);
}

/**
 * Canonical `params|query|vary` for the common shapes (string values), without the general
 * encoder: keys sorted, values JSON-quoted, so distinct requests never share a key. Anything
 * else falls back to the general encoder's spelling through an object.
 */
export function httpKeyPart(params: Readonly<Record<string, unknown>>, query: Readonly<Record<string, unknown>>, vary: unknown): unknown {
  const p = flat(params);
  const q = flat(query);
  if (p === undefined || q === undefined) return { params, query, vary };
  return vary === undefined ? `${p}|${q}` : `${p}|${q}|${encodeValue(vary, 'the vary option', 'vary')}`;
}

/** `{"a":"1","b":["x","y"]}` with sorted keys, or undefined if a value is not a string or string list. */
function flat(record: Readonly<Record<string, unknown>>): string | undefined {
  const keys = Object.keys(record);
  if (keys.length === 0) return '{}';
  keys.sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const value = record[keys[i]];
    if (typeof value !== 'string' && !(Array.isArray(value) && value.every((x) => typeof x === 'string'))) return undefined;
    out += `${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:${JSON.stringify(value)}`;
  }
  return out + '}';
}

/** Error statuses, Set-Cookie and private/no-store responses are never shared. */
export function isUncacheableHttpResponse(reflector: Reflector, context: ExecutionContext, res: HttpResponseLike): boolean {
  const code = reflector.get<number | undefined>(HTTP_CODE_METADATA, context.getHandler());
  if ((code ?? 200) >= 400) return true;
  if ((res.statusCode ?? 200) >= 400) return true;
  if (res.getHeader?.('set-cookie') !== undefined) return true;
  const declared = reflector.get<Array<{ name: string; value: string }> | undefined>(HEADERS_METADATA, context.getHandler()) ?? [];
  if (declared.some((h) => h.name.toLowerCase() === 'set-cookie')) return true;
  const cacheControl = [String(res.getHeader?.('cache-control') ?? ''), ...declared.filter((h) => h.name.toLowerCase() === 'cache-control').map((h) => h.value)];
  return cacheControl.some((v) => /\b(private|no-store)\b/i.test(v));
}
