import type { ExecutionContext, Logger } from '@nestjs/common';
import { CACHE_MEMOIZE_METADATA } from '../constants';
import { writesCache } from '../method/wrapper';
import type { MethodRegistry } from '../method/method-registry';
import type { ResolvedMethod } from '../method/resolved-method';
import type { CacheMemoizeOptions } from '../types/options';
import type { CachePolicy } from '../types/policy';
import type { CacheRequest } from '../types/request';
import { parseDuration } from '../util/duration';
import { cacheableMethod, carriesUnreadBody } from './request-key';

type AnyOptions = CacheMemoizeOptions<readonly unknown[], unknown>;

/** Nest's metadata keys (read directly: this layer does not import @nestjs/core). */
const VERSION_METADATA = '__version__';
const HOST_METADATA = 'host';
const HEADERS_METADATA = '__headers__';
const ROUTE_ARGS_METADATA = '__routeArguments__';
const PASSTHROUGH_METADATA = '__responsePassthrough__';
const HANDLER_TYPE_METADATA = 'microservices:handler_type';
const SSE_METADATA = '__sse__';
const EVENT_HANDLER = 2;
/** RouteParamtypes.HEADERS and IP, as route-argument keys start. */
const HEADERS_PARAM = '6';
const IP_PARAM = '11';
/** The route's RequestMethod: GET, ALL and HEAD. */
const METHOD_METADATA = 'method';
const [GET, ALL, HEAD] = [0, 5, 7];
/** Nest's route-argument metadata: `${RouteParamtypes}:${index}` to the parameter's index and data. */
type RouteArgs = Record<string, { index?: number; data?: unknown } | undefined>;

/** What the interceptor needs of a handler, resolved once per handler (metadata reads are not free per request). */
export interface HandlerInfo {
  options: AnyOptions;
  method: ResolvedMethod;
  /** Carries `@CacheMemoize` (on itself or its class); otherwise only a global binding reaches it. */
  decorated: boolean;
  /** `@Res()` / `@Next()` without passthrough: the handler writes the response itself. */
  ownsResponse: boolean;
  /**
   * Never cached, every call must run: a microservice event handler (`@EventPattern`), or a handler
   * that invalidates or writes the cache (`@CacheEvict`, `@InvalidateTags`, `@CachePut`) under a
   * class-level `@CacheMemoize` (review: an RPC command answered from the cache, its write dropped).
   */
  alwaysRuns: boolean;
  /** `@Sse`: an event stream, which may never complete; never cached. */
  isStream: boolean;
  /** A static `@Header('Vary', '*')`: the response varies by more than any request could tell; never cached. */
  variesByAll: boolean;
  policy: CachePolicy;
  /** The `ttl` option given as a function: applied to the handler's response body. */
  ttlOf: ((entry: unknown) => number) | undefined;
  reportsStale: boolean;
  hooked: boolean;
  /** `@Version`, encoded. */
  version: string;
  /** The controller's declared `host` option, encoded (host-routed controllers never share). */
  declaredHost: string;
  /** Request headers the response varies by: the `vary` option's, plus a static `@Header('Vary', ...)`. */
  varyHeaders: readonly string[] | undefined;
  /** Another of the library's interceptors bound to this handler caches it (bindings.ts): pass requests on. */
  defers?: boolean;
  /** What hits emit is sent as it is (http-responder.ts): the stored JSON text, an ETag of it. Decided at first use. */
  sendsAsStored?: boolean;
  /**
   * The HTTP key part our trackBy built for the request being keyed (reset before each call): only
   * that string is taken as encoded; any other a subclass returns is encoded as a value, so a
   * client-chosen string can never spell another request's key part (or its '#' hash).
   */
  ownTrack?: string;
  /** The last HTTP key part seen, and its key (most requests to a route repeat it). */
  lastTrack?: string;
  lastKey?: string;
  /** The last route pattern seen, JSON-quoted for the key (a handler may have several paths). */
  lastRoute?: string;
  lastRouteJson?: string;
}

export function handlerMetadata<T>(key: string, context: ExecutionContext): T | undefined {
  const fromHandler = Reflect.getMetadata(key, context.getHandler()) as T | undefined;
  return fromHandler !== undefined ? fromHandler : (Reflect.getMetadata(key, context.getClass()) as T | undefined);
}

/** `ownKey`: the interceptor overrides trackBy, so what it keys by is not known here. */
export function resolveHandler(
  context: ExecutionContext,
  registry: MethodRegistry,
  logger?: Logger,
  ownKey = false,
): HandlerInfo {
  const handler = context.getHandler();
  const cls = context.getClass();
  const own = handlerMetadata<AnyOptions>(CACHE_MEMOIZE_METADATA, context);
  const options = own ?? {};
  const name = handlerName(cls, handler);
  const method = registry.register(cls, name, options, { kind: 'handler' });
  // What the interceptor stores is the response ({ values, status, headers }): an uncacheable
  // marker is never stored, and a cacheIf sees the handler's value.
  const userCacheIf = method.policy.cacheIf;
  const policy: CachePolicy = Object.freeze({
    ...method.policy,
    cacheIf: (entry: unknown) => {
      if (typeof entry !== 'object' || entry === null || 'uncacheable' in entry) return false;
      if (userCacheIf === undefined) return true;
      const values = (entry as { values: unknown[] }).values;
      return userCacheIf(values.length === 1 ? values[0] : values);
    },
  });
  const staticVaryAll = (
    (Reflect.getMetadata(HEADERS_METADATA, handler) as Array<{ name: string; value: string }> | undefined) ?? []
  )
    .filter((h) => h.name.toLowerCase() === 'vary')
    .flatMap((h) =>
      String(h.value)
        .split(',')
        .map((v) => v.trim().toLowerCase()),
    );
  const staticVary = staticVaryAll.filter((v) => v !== '' && v !== '*');
  const declaredVary = Array.isArray(options.vary)
    ? (options.vary as readonly string[]).map((h) => h.toLowerCase())
    : [];
  const varyHeaders = [...new Set([...declaredVary, ...staticVary])];
  const http = context.getType() === 'http';
  // The route's parameter decorators (@Res(), @Headers(...)), under its method name.
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, cls, name) as RouteArgs | undefined;
  const ownsResponse = http && handlesResponseItself(cls, name, args);
  const isStream = Reflect.getMetadata(SSE_METADATA, handler) !== undefined;
  const variesByAll = staticVaryAll.includes('*');
  const cached = !ownsResponse && !isStream && !variesByAll && cachedVerb(handler, options);
  if (http && !ownKey && typeof options.vary !== 'function' && cached)
    for (const { read, fix } of unkeyedReads(args, varyHeaders, registry.requests.privateHeaders))
      logger?.warn(
        `${cls.name}.${name} reads ${read}, which its cache key does not include: every caller ` +
          `gets the answer computed for the first, whatever theirs says. To key by it, ${fix}; ignore this if the ` +
          `response does not depend on it.`,
      );
  const writes = writesCache(handler);
  // Under a class-level binding a write is left out on purpose; on the handler itself, say so.
  // Once per handler and app: each interceptor bound to it (global, controller, route) resolves it.
  if (writes && Reflect.getMetadata(CACHE_MEMOIZE_METADATA, handler) !== undefined)
    method.warnOnce(
      'memoize-and-write',
      `${cls.name}.${name} has @CacheMemoize and a write (@CacheEvict, @InvalidateTags or @CachePut): a write ` +
        `always runs, so its response is never cached. Remove @CacheMemoize from it.`,
    );
  return {
    options,
    method,
    decorated: own !== undefined,
    ownsResponse,
    alwaysRuns: Reflect.getMetadata(HANDLER_TYPE_METADATA, handler) === EVENT_HANDLER || writes,
    isStream,
    variesByAll,
    policy,
    ttlOf: responseTtl(options, method.owner),
    reportsStale: policy.graceMs > 0 || policy.staleIfErrorMs !== undefined || policy.refreshAheadMs !== undefined,
    hooked: method.hasHooks,
    version: encodeVersion(handlerMetadata(VERSION_METADATA, context)),
    declaredHost: encodeVersion(Reflect.getMetadata(HOST_METADATA, cls)),
    varyHeaders: varyHeaders.length > 0 ? varyHeaders : undefined,
  };
}

/**
 * The handler's method name. Not always `handler.name`: Nest's @GrpcStreamMethod replaces the
 * method with an anonymous wrapper, and two such handlers of a class would share one namespace.
 */
export function handlerName(cls: Function, handler: Function): string {
  if (handler.name !== '') return handler.name;
  for (
    let proto = cls.prototype as object | null;
    proto !== null;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== 'constructor' && Object.getOwnPropertyDescriptor(proto, name)?.value === handler) return name;
    }
  }
  return handler.name;
}

/** An HTTP request this handler never caches: its method, a response the handler writes, `Vary: *`, an unread body. */
export function neverCached(request: CacheRequest, options: AnyOptions, info: HandlerInfo): boolean {
  if (request.transport !== 'http') return false;
  return !cacheableMethod(request, options) || info.ownsResponse || info.variesByAll || carriesUnreadBody(request);
}

/** A route whose HTTP method the interceptor caches (GET, HEAD, ALL unless `httpMethods` says others). */
function cachedVerb(handler: Function, options: AnyOptions): boolean {
  const verb = Reflect.getMetadata(METHOD_METADATA, handler) as number | undefined;
  return options.httpMethods !== undefined || verb === undefined || verb === GET || verb === HEAD || verb === ALL;
}

/**
 * Request parts a handler takes as parameters that its key leaves out: a header not in `vary`
 * (credential headers have their own rules), all headers, the client's IP. Found by a new user:
 * `@Headers('x-tenant-id')` on a cached route answered every tenant with the first one's data.
 */
function unkeyedReads(
  args: RouteArgs | undefined,
  varyHeaders: readonly string[],
  privateHeaders: readonly string[],
): Array<{ read: string; fix: string }> {
  const reads: Array<{ at: number; read: string; fix: string }> = [];
  for (const [key, arg] of Object.entries(args ?? {})) {
    const type = key.split(':')[0];
    const at = arg?.index ?? 0;
    const name = typeof arg?.data === 'string' ? arg.data.toLowerCase() : undefined;
    if (type === HEADERS_PARAM && name === undefined && !varyHeaders.includes('*'))
      reads.push({ at, read: 'all headers (@Headers())', fix: "add the ones it uses to vary (vary: ['x-tenant-id'])" });
    else if (
      type === HEADERS_PARAM &&
      name !== undefined &&
      !varyHeaders.includes(name) &&
      !privateHeaders.includes(name)
    )
      reads.push({ at, read: `header '${name}' (@Headers('${name}'))`, fix: `add it to vary (vary: ['${name}'])` });
    else if (type === IP_PARAM)
      reads.push({ at, read: "the client's IP (@Ip())", fix: 'key it with a vary function ((req) => req.raw.ip)' });
  }
  return reads.sort((a, b) => a.at - b.at);
}

/** `@Res()` / `@Next()` without passthrough: the handler writes the response; nothing to cache. */
function handlesResponseItself(cls: Function, name: string, args: RouteArgs | undefined): boolean {
  if (args === undefined) return false;
  const usesResponse = Object.keys(args).some((k) => k.startsWith('1:') || k.startsWith('2:'));
  if (!usesResponse) return false;
  return Reflect.getMetadata(PASSTHROUGH_METADATA, cls, name) !== true;
}

/** A version or host declaration (string, list, RegExp, VERSION_NEUTRAL), as key text. */
function encodeVersion(value: unknown): string {
  if (value === undefined) return '-';
  const one = (v: unknown) =>
    typeof v === 'symbol' ? 'neutral' : v instanceof RegExp ? `/${v.source}/${v.flags}` : String(v);
  if (Array.isArray(value)) return JSON.stringify(value.map(one).sort());
  return JSON.stringify(one(value));
}

/** `ttl: (body) => Duration` on a handler: the body is its value (or the array of its emissions). */
function responseTtl(options: AnyOptions, owner: string): ((entry: unknown) => number) | undefined {
  const ttl = options.ttl;
  if (typeof ttl !== 'function') return undefined;
  return (entry) => {
    const values = (entry as { values: unknown[] }).values;
    const body = values.length === 1 ? values[0] : values;
    return parseDuration((ttl as (body: unknown) => unknown)(body), `${owner}: option ttl(result)`, {
      allowZero: true,
    });
  };
}

/** The key for an encoded HTTP key part; the last one per handler is kept (most requests repeat it). */
export function keyOf(handler: HandlerInfo, track: string): string {
  if (track !== handler.lastTrack || handler.lastKey === undefined) {
    handler.lastKey = handler.method.keyForEncoded(track);
    handler.lastTrack = track;
  }
  return handler.lastKey;
}

/** Distinct reasons logged per handler: a reason that names request data must not flood the log. */
const REASONS_PER_HANDLER = 5;

/**
 * A handler served uncached because the cache cannot key or tag its requests: said once per
 * handler and reason (once per handler hid a second reason behind the first, found by review).
 */
export function warnUncached(
  logger: Logger,
  warned: WeakMap<Function, Set<string>>,
  context: ExecutionContext,
  error: unknown,
): void {
  const handler = context.getHandler();
  const reason = error instanceof Error ? error.message : String(error);
  let reasons = warned.get(handler);
  if (reasons === undefined) warned.set(handler, (reasons = new Set()));
  if (reasons.has(reason) || reasons.size >= REASONS_PER_HANDLER) return;
  reasons.add(reason);
  const more = reasons.size === REASONS_PER_HANDLER ? ' (further reasons for this handler are not logged)' : '';
  logger.warn(
    `${context.getClass().name}.${handlerName(context.getClass(), handler)} is served uncached: ${reason}${more}`,
  );
}

/** The hook a request's cache state fires, and the X-Cache label it answers with. */
export const HOOKS = { fresh: 'onHit', stale: 'onStale', miss: 'onMiss' } as const;
export const xCache = (state: string | undefined) => (state === 'stale' ? 'STALE' : state === 'miss' ? 'MISS' : 'HIT');
