import type { ExecutionContext } from '@nestjs/common';
import type { CacheRequest } from '../types/request';
import { markUnseen, socketRequest } from './graphql-socket';

export interface HttpRequestLike {
  method?: string;
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  headers?: Record<string, string | string[] | undefined>;
  user?: unknown;
  /** Fastify: the Node request under it, where a Nest middleware sets `user`. */
  raw?: { user?: unknown };
  hostname?: string;
  /** Express: the matched route. */
  route?: { path?: unknown };
  /** Fastify: the matched route. */
  routeOptions?: { url?: unknown };
  routerPath?: unknown;
}

/** The adapter's own reading of the host (Express' and Fastify's honour their trust-proxy setting). */
export interface HostReader {
  getRequestHostname?(request: unknown): string | undefined;
}

const PATTERN_METADATA = 'microservices:pattern';
type GqlArgs = [
  unknown,
  unknown,
  { req?: HttpRequestLike; user?: unknown } | undefined,
  { parentType?: { name?: string }; fieldName?: string } | undefined,
];

/** A guard's user, or on Fastify one a Nest middleware set (middleware there gets the Node request). */
function userOf(req: HttpRequestLike): unknown {
  const user = req.user ?? req.raw?.user;
  // Nest's AuthGuard sets what passport gives on failure, `false`, on an optional-auth route: anonymous (review).
  return user === false ? undefined : user;
}

/**
 * Why a response is not stored when `request.user` appeared while the handler ran: set by an
 * interceptor inside ours, it made an anonymous-looking request one user's (review: Bob got
 * Alice's `/me`).
 */
export const USER_SET_LATE =
  'request.user was set after the cache interceptor ran (by an interceptor inside it), so the response may be ' +
  "that user's and is not stored. Set the user in a guard or middleware (they run before interceptors); until " +
  'then, requests to this route can still hit entries stored for anonymous requests.';

/** A user set since `request` was described (by an interceptor inside ours); HTTP and GraphQL over HTTP. */
export function userSetSince(request: CacheRequest): boolean {
  if (request.user !== undefined && request.user !== null) return false;
  if (request.transport === 'http') return userOf(request.raw as HttpRequestLike) != null;
  if (request.transport !== 'graphql') return false;
  const gqlContext = request.raw as { req?: HttpRequestLike; user?: unknown } | null;
  return (gqlContext?.req !== undefined && userOf(gqlContext.req) != null) || gqlContext?.user != null;
}

/** What the interceptor knows of the request, per transport; undefined for WebSocket gateways. */
export function describeRequest(context: ExecutionContext, adapter: HostReader | undefined): CacheRequest | undefined {
  const type = context.getType<string>();
  if (type === 'http') {
    const req = context.getArgByIndex<HttpRequestLike>(0); // switchToHttp() allocates on every call
    return {
      transport: 'http',
      // Copies: frameworks hand out null-prototype or foreign-realm objects here.
      params: copyOf(req.params),
      query: copyOf(req.query),
      headers: req.headers ?? {},
      host: hostOf(req, adapter),
      route: routeOf(req),
      user: userOf(req),
      raw: req,
      context,
    };
  }
  if (type === 'rpc') {
    const rpc = context.switchToRpc();
    const patterns = Reflect.getMetadata(PATTERN_METADATA, context.getHandler()) as unknown[] | undefined;
    const raw = rpc.getContext<unknown>();
    return {
      transport: 'rpc',
      params: {},
      query: {},
      headers: rpcHeaders(raw),
      // The pattern the message came in on: a handler may listen on several, or on a wildcard.
      pattern: arrivedPattern(raw) ?? (patterns?.length === 1 ? patterns[0] : patterns),
      data: rpc.getData(),
      raw,
      context,
    };
  }
  if (type === 'graphql') {
    // [root, args, context, info] — read positionally so @nestjs/graphql stays optional.
    const [root, args, gqlContext, info] = context.getArgs<GqlArgs>();
    const req = gqlContext?.req;
    const parentType = info?.parentType?.name ?? '?';
    const common = {
      transport: 'graphql' as const,
      params: {},
      query: {},
      pattern: `${parentType}.${info?.fieldName ?? '?'}`,
      data: args,
      parent: ROOT_TYPES.has(parentType) ? undefined : root,
      raw: gqlContext ?? null,
      context,
    };
    if (typeof req?.headers === 'object' && req.headers !== null) {
      return {
        ...common,
        headers: req.headers,
        host: hostOf(req, adapter),
        route: routeOf(req) ?? endpointOf(req),
        user: userOf(req) ?? gqlContext?.user ?? undefined,
      };
    }
    // A WebSocket (graphql-ws) or an unknown context: never taken as anonymous.
    const { credentials, opaque, user, ...socket } = socketRequest(req);
    return markUnseen({ ...common, ...socket, user: user ?? gqlContext?.user ?? undefined }, { credentials, opaque });
  }
  return undefined;
}

const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);

/** A plain copy; most requests have no params or no query, and an empty one is made without spreading. */
function copyOf(record: Record<string, unknown> | undefined): Record<string, unknown> {
  if (record === undefined || record === null) return {};
  for (const _ in record) return { ...record };
  return {};
}

function hostOf(req: HttpRequestLike, adapter: HostReader | undefined): string | undefined {
  try {
    // As the app reads it: never normalized, so the key and the handler always see the same host.
    const host = adapter?.getRequestHostname?.(req) ?? req.hostname;
    return typeof host === 'string' ? host : undefined;
  } catch {
    return undefined;
  }
}

/** The route pattern that matched (Express: req.route.path; Fastify: routeOptions.url). */
function routeOf(req: HttpRequestLike): string | undefined {
  const express = req.route?.path;
  if (typeof express === 'string') return express;
  const fastify = req.routeOptions?.url;
  if (typeof fastify === 'string') return fastify;
  return typeof req.routerPath === 'string' ? req.routerPath : undefined;
}

/** A GraphQL endpoint mounted as middleware has no matched route: its path then. */
function endpointOf(
  req: HttpRequestLike & { baseUrl?: unknown; originalUrl?: unknown; url?: unknown },
): string | undefined {
  if (typeof req.baseUrl === 'string' && req.baseUrl !== '') return req.baseUrl;
  const url = typeof req.originalUrl === 'string' ? req.originalUrl : typeof req.url === 'string' ? req.url : undefined;
  return url?.split('?')[0];
}

/** TCP and RabbitMQ: getPattern(); MQTT and Kafka: getTopic(); NATS: getSubject(); Redis: getChannel(). */
function arrivedPattern(raw: unknown): string | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  for (const getter of ['getPattern', 'getTopic', 'getSubject', 'getChannel']) {
    const get = (raw as Record<string, unknown>)[getter];
    if (typeof get !== 'function') continue;
    try {
      const pattern: unknown = get.call(raw);
      if (typeof pattern === 'string') return pattern;
    } catch {
      // an unfamiliar context: the declared patterns then
    }
  }
  return undefined;
}

/**
 * Credentials travel in transport metadata: gRPC Metadata, NATS headers, RabbitMQ and Kafka
 * message headers, MQTT 5 user properties (the Redis transport has none). Collected into one lower-case record so the private rule reads one shape.
 */
function rpcHeaders(raw: unknown): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  if (raw === null || typeof raw !== 'object') return out;
  const add = (name: string, value: unknown) => {
    if (value === undefined || value === null) return;
    const text = Array.isArray(value) ? value.map(String) : Buffer.isBuffer(value) ? value.toString() : String(value);
    out[name.toLowerCase()] = text;
  };
  const fromRecord = (record: unknown) => {
    if (record === null || typeof record !== 'object') return;
    if (
      typeof (record as { keys?: unknown }).keys === 'function' &&
      typeof (record as { get?: unknown }).get === 'function'
    ) {
      // NATS MsgHdrs and Map-like headers.
      const like = record as { keys(): Iterable<string>; get(k: string): unknown };
      for (const k of like.keys()) add(k, like.get(k));
      return;
    }
    for (const [k, v] of Object.entries(record as Record<string, unknown>)) add(k, v);
  };
  try {
    const ctx = raw as {
      getMap?: () => Record<string, unknown>;
      getHeaders?: () => unknown;
      getMessage?: () => { properties?: { headers?: unknown }; headers?: unknown } | undefined;
      getPacket?: () => { properties?: { userProperties?: unknown } } | undefined;
    };
    if (typeof ctx.getMap === 'function') fromRecord(ctx.getMap()); // gRPC Metadata
    if (typeof ctx.getHeaders === 'function') fromRecord(ctx.getHeaders()); // NATS
    if (typeof ctx.getMessage === 'function') {
      const message = ctx.getMessage();
      fromRecord(message?.properties?.headers); // RabbitMQ
      fromRecord(message?.headers); // Kafka
    }
    if (typeof ctx.getPacket === 'function') fromRecord(ctx.getPacket()?.properties?.userProperties); // MQTT 5
  } catch {
    // an unfamiliar context: no metadata
  }
  return out;
}
