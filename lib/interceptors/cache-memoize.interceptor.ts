import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  Logger,
  type NestInterceptor,
  Optional,
  StreamableFile,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { from, lastValueFrom, type Observable, toArray } from 'rxjs';
import { CACHE_MEMOIZE_METADATA } from '../constants';
import { CacheMemoizeEngine } from '../cache-memoize.engine';
import type { CacheMemoizeOptions } from '../cache-memoize.options';
import type { MemoizePolicy } from '../core/memoizer';
import { tagKeysFor } from '../core/keys';
import type { CacheRequest } from './cache-request';
import { describeRequest, type HostReader } from './describe-request';
import { parentIdentity, selectionKey, type GraphqlInfoLike } from './graphql-key';
import { cacheableMethod, httpKeyPart, identify, mayCache, varyValue } from './request-key';
import { capturedMeta, isUncacheableHttpResponse, snapshotResponse, type HttpResponseLike, type ResponseMeta, type ResponseSnapshot } from './response-rules';

type AnyOptions = CacheMemoizeOptions<readonly unknown[], unknown>;
interface HandlerInfo {
  options: AnyOptions;
  method: ReturnType<CacheMemoizeEngine['register']>;
  ownsResponse: boolean;
  policy: MemoizePolicy;
  reportsStale: boolean;
  hooked: boolean;
  /** The handler's declared API version (`@Version`), encoded: same-named handlers of two versions never share. */
  version: string;
}
const handled = new WeakSet<object>();
const VERSION_METADATA = '__version__';

/** A cached handler response: every emission (Observable handlers replay whole), plus the status and headers the handler set. */
interface CachedResponse extends ResponseMeta {
  values: unknown[];
}
/** The handler ran but its response must not be shared (stream, error status, Set-Cookie...). */
interface Uncacheable {
  uncacheable: unknown[];
}

/**
 * Caches controller, microservice and resolver responses. Applied by `@CacheMemoize()` on a
 * handler or controller, by `@UseInterceptors(CacheMemoizeInterceptor)`, or globally with
 * APP_INTERCEPTOR (then every GET/HEAD route is cached with the module's defaults).
 *
 * Keys: handler + host + route pattern + version + params + query (keys sorted) + declared vary
 * (HTTP); pattern + payload (RPC); Type.field + parent + args + selection set (GraphQL). A request
 * that identifies a user is never shared unless the route varies by that identity or is public.
 */
@Injectable()
export class CacheMemoizeInterceptor implements NestInterceptor {
  protected readonly logger = new Logger('CacheMemoize');

  constructor(
    protected readonly engine: CacheMemoizeEngine,
    protected readonly reflector: Reflector,
    @Optional() protected readonly adapterHost?: HttpAdapterHost,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (!this.engine.enabled) return next.handle();
    const request = describeRequest(context, this.adapterHost?.httpAdapter as HostReader | undefined);
    if (request === undefined || this.alreadyHandled(request)) return next.handle();
    let handler: HandlerInfo;
    let key: string;
    let requestTagKeys: string[] = [];
    try {
      handler = this.handlerInfo(context);
      const track = this.trackBy(context, request, handler.options);
      if (track === undefined) {
        this.setHeader(context, request, 'X-Cache', 'BYPASS');
        return next.handle();
      }
      key = typeof track === 'string' ? handler.method.keyForEncoded(track) : handler.method.keyForValue(track);
      const requestTags = handler.options.requestTags?.(request);
      if (requestTags !== undefined) requestTagKeys = tagKeysFor(this.engine.prefix, requestTags, `requestTags of ${handler.method.owner}`);
    } catch (error) {
      // A request the cache cannot key (or tag) is served uncached, never failed.
      this.warnOnce(context, error);
      this.setHeader(context, request, 'X-Cache', 'BYPASS');
      return next.handle();
    }
    const method = handler.method;
    // Per-request policy only when something differs per request (tags, or stale reporting).
    let outcome: string | undefined;
    let policy = handler.policy;
    if (requestTagKeys.length > 0 || handler.reportsStale || handler.hooked) {
      policy = {
        ...policy,
        report: (state: string) => {
          outcome = state;
          if (handler.hooked) method.fireHook(state === 'fresh' ? 'onHit' : state === 'stale' ? 'onStale' : 'onMiss', { key, args: [request] });
        },
      };
      if (requestTagKeys.length > 0) policy.tagKeys = [...policy.tagKeys, ...requestTagKeys];
    }
    const response = request.transport === 'http' ? context.switchToHttp().getResponse<HttpResponseLike>() : undefined;
    const before = response === undefined ? undefined : snapshotResponse(response);
    const joined = method.memoizer.isComputing(key);
    let ran = false;
    const result = (await method.memoizer.getOrSet<CachedResponse | Uncacheable>(
      key,
      async () => {
        ran = true;
        const values = await lastValueFrom(next.handle().pipe(toArray()));
        if (!this.isCacheable(context, request, values, before)) return { uncacheable: values };
        const meta = response === undefined || before === undefined ? undefined : capturedMeta(response, before);
        return meta === undefined ? { values } : { values, ...meta };
      },
      policy as MemoizePolicy<CachedResponse | Uncacheable>,
    )) as CachedResponse | Uncacheable;
    if ('uncacheable' in result) {
      // Only the caller whose handler produced it may use it (a stream can be read once).
      if (ran) return from(result.uncacheable);
      return next.handle();
    }
    // The handler's runtime status and headers, on hits and on calls that joined another's run.
    if (!ran && response !== undefined) this.replay(response, result);
    const state = outcome as string | undefined; // set by the report callback, when asked for
    const label = ran || joined ? 'MISS' : state === 'stale' ? 'STALE' : state === 'miss' ? 'MISS' : 'HIT';
    this.setHeader(context, request, 'X-Cache', label);
    if (this.engine.exposeKeyHeader) this.setHeader(context, request, 'X-Cache-Key', key);
    return from(result.values);
  }

  /** Per-handler facts, resolved once (metadata reads are not free on every request). */
  private readonly handlers = new WeakMap<Function, HandlerInfo>();
  private handlerInfo(context: ExecutionContext): HandlerInfo {
    const handler = context.getHandler();
    let info = this.handlers.get(handler);
    if (info === undefined) {
      const cls = context.getClass();
      const options = this.reflector.getAllAndOverride<AnyOptions | undefined>(CACHE_MEMOIZE_METADATA, [handler, cls]) ?? {};
      const method = this.engine.register(cls, handler.name, options, { kind: 'handler' });
      const base = method.policyFor([]);
      info = {
        options,
        method,
        ownsResponse: context.getType() === 'http' && this.handlesResponseItself(context),
        policy: { ...base, cacheIf: (r: unknown) => !('uncacheable' in (r as object)) },
        reportsStale: (base.graceMs ?? 0) > 0,
        hooked: method.hasHooks,
        version: encodeVersion(this.reflector.getAllAndOverride<unknown>(VERSION_METADATA, [handler, cls])),
      };
      this.handlers.set(handler, info);
    }
    return info;
  }

  /**
   * The value the key is built from, or undefined to leave this request uncached. Override to
   * key differently (e.g. add a tenant id); call `super.trackBy` to keep the safety rules.
   */
  protected trackBy(context: ExecutionContext, request: CacheRequest, options: AnyOptions): unknown {
    if (options.skip !== undefined && (options.skip as (r: CacheRequest) => boolean)(request)) return undefined;
    if (!mayCache(identify(request, this.engine.privateHeaders), options)) return undefined;
    const vary = varyValue(request, options);
    if (request.transport === 'http') {
      if (!cacheableMethod(request, options)) return undefined;
      const info = this.handlerInfo(context);
      if (info.ownsResponse) return undefined;
      return httpKeyPart(request, this.engine.varyByHost ? request.host : undefined, info.version, vary);
    }
    if (request.transport === 'rpc') return { pattern: request.pattern, data: request.data, vary };
    // GraphQL: mutations are never cached. A field resolver's answer depends on its parent, and a
    // resolver that reads `info` may load only the selected subfields: both are in the key.
    const field = String(request.pattern);
    if (field.startsWith('Mutation.') || field.startsWith('Subscription.')) return undefined;
    const info = context.getArgs<[unknown, unknown, unknown, GraphqlInfoLike | undefined]>()[3];
    const parent = request.parent === undefined ? undefined : parentIdentity(request.parent);
    return { field, parent, args: request.data, selection: selectionKey(info), vary };
  }

  /** Whether a response may be stored and shared. */
  protected isCacheable(context: ExecutionContext, request: CacheRequest, values: unknown[], before?: ResponseSnapshot): boolean {
    const last = values[values.length - 1];
    if (last instanceof StreamableFile || isStream(last)) return false;
    if (request.transport !== 'http') return true;
    const options = this.handlerInfo(context).options;
    const declaredVary = Array.isArray(options.vary) ? (options.vary as readonly string[]) : undefined;
    return !isUncacheableHttpResponse(this.reflector, context, context.switchToHttp().getResponse<HttpResponseLike>(), before, declaredVary);
  }

  /** Sets what the handler set on the response that produced the entry. */
  private replay(response: HttpResponseLike, meta: ResponseMeta): void {
    const adapter = this.adapterHost?.httpAdapter;
    try {
      if (meta.status !== undefined) {
        if (adapter !== undefined) adapter.status(response, meta.status);
        else (response as { statusCode?: number }).statusCode = meta.status;
      }
      for (const [name, value] of Object.entries(meta.headers ?? {})) {
        const text = value as string; // adapters take arrays too (several Link headers)
        if (adapter !== undefined) adapter.setHeader(response, name, text);
        else response.setHeader?.(name, text);
      }
    } catch {
      // headers already sent: nothing to add
    }
  }

  /** `@Res()` / `@Next()` without passthrough: the handler writes the response; nothing to cache. */
  private handlesResponseItself(context: ExecutionContext): boolean {
    const args = Reflect.getMetadata('__routeArguments__', context.getClass(), context.getHandler().name) as Record<string, unknown> | undefined;
    if (args === undefined) return false;
    const usesResponse = Object.keys(args).some((k) => k.startsWith('1:') || k.startsWith('2:'));
    if (!usesResponse) return false;
    return Reflect.getMetadata('__responsePassthrough__', context.getClass(), context.getHandler().name) !== true;
  }

  private readonly warned = new Set<Function>();
  private warnOnce(context: ExecutionContext, error: unknown): void {
    const handler = context.getHandler();
    if (this.warned.has(handler)) return;
    this.warned.add(handler);
    this.logger.warn(`${context.getClass().name}.${handler.name} is served uncached: ${error instanceof Error ? error.message : String(error)}`);
  }

  private alreadyHandled(request: CacheRequest): boolean {
    // Bound globally and on the route: the outer instance does the work, the inner passes through.
    // (A WeakSet rather than a property: adding keys to framework request objects slows them.)
    // GraphQL resolves many fields per request: the carrier there is the field's own args.
    const carrier = request.transport === 'graphql' ? request.context.getArgs()[3] : request.raw;
    if (carrier === null || typeof carrier !== 'object') return false;
    if (handled.has(carrier)) return true;
    handled.add(carrier);
    return false;
  }

  private setHeader(context: ExecutionContext, request: CacheRequest, name: string, value: string): void {
    if (request.transport !== 'http') return;
    const response = context.switchToHttp().getResponse<HttpResponseLike>();
    const adapter = this.adapterHost?.httpAdapter;
    try {
      if (adapter !== undefined) adapter.setHeader(response, name, value);
      else response.setHeader?.(name, value);
    } catch {
      // headers already sent (e.g. a streaming handler): nothing to add
    }
  }
}

function encodeVersion(version: unknown): string {
  if (version === undefined) return '-';
  if (typeof version === 'symbol') return 'neutral';
  if (Array.isArray(version)) return JSON.stringify(version.map((v) => (typeof v === 'symbol' ? 'neutral' : String(v))).sort());
  return JSON.stringify(String(version));
}

function isStream(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { pipe?: unknown }).pipe === 'function';
}
