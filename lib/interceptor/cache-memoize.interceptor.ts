import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
  Optional,
  StreamableFile,
} from '@nestjs/common';
import { from, lastValueFrom, type Observable, toArray } from 'rxjs';
import { CACHE_HTTP_ADAPTER } from '../constants';
import { InvalidOptionError } from '../errors';
import { tagKeysFor } from '../keys/keys';
import { MethodRegistry } from '../method/method-registry';
import type { CacheMemoizeOptions } from '../types/options';
import type { CallScope } from '../types/policy';
import type { CacheRequest, HttpAdapterRef } from '../types/request';
import { describeRequest } from './describe-request';
import { parentIdentity, selectionKey, type GraphqlInfoLike } from './graphql-key';
import { resolveHandler, type HandlerInfo } from './handler-info';
import { cacheableMethod, httpKeyPart, identify, mayCache, varyValue } from './request-key';
import { cloneResponse } from './response-clone';
import {
  capturedMeta,
  finishedWithoutCookie,
  isUncacheableHttpResponse,
  replayMeta,
  snapshotResponse,
  type HttpResponseLike,
  type ResponseMeta,
  type ResponseSnapshot,
} from './response-rules';
import { applyValidators, strongEtag, type Validators } from './conditional';

type AnyOptions = CacheMemoizeOptions<readonly unknown[], unknown>;
const handled = new WeakSet<object>();
/** How long an entry waits for its response to finish (so a late Set-Cookie is seen) before it is dropped. */
const FINISH_WAIT_MS = 5_000;

/** A cached handler response: every emission (Observable handlers replay whole), plus the status and headers the handler set. */
interface CachedResponse extends ResponseMeta, Validators {
  values: unknown[];
}
/** The handler ran but its response must not be shared (stream, error status, Set-Cookie...). */
interface Uncacheable {
  uncacheable: unknown[];
}
type Entry = CachedResponse | Uncacheable;

/**
 * Caches controller, microservice and resolver responses. Applied by `@CacheMemoize()` on a
 * handler or controller, by `@UseInterceptors(CacheMemoizeInterceptor)`, or globally with
 * APP_INTERCEPTOR (then every undecorated GET/HEAD route is cached with the module's defaults;
 * RPC and GraphQL handlers only when decorated).
 *
 * Keys: handler + host + route pattern + version + params + query (keys sorted) + declared vary
 * (+ body for methods other than GET/HEAD) for HTTP; pattern + payload for RPC; host + endpoint +
 * Type.field + parent + args + selection set for GraphQL. A request that identifies a user is
 * never shared unless the route varies by that identity or is public. Every response served from
 * the cache is a copy: nothing one request does to it reaches another.
 */
@Injectable()
export class CacheMemoizeInterceptor implements NestInterceptor {
  protected readonly logger = new Logger('CacheMemoize');

  protected readonly registry: MethodRegistry;

  constructor(
    @Optional() @Inject(MethodRegistry) registry: MethodRegistry | undefined,
    @Optional() @Inject(CACHE_HTTP_ADAPTER) protected readonly http?: HttpAdapterRef,
  ) {
    // Without this, Nest's own message would be "can't resolve dependencies of the CacheMemoizeInterceptor (?, ...)".
    if (registry === undefined) {
      throw new InvalidOptionError(
        'CacheMemoizeInterceptor needs CacheMemoizeModule: import CacheMemoizeModule.forRoot() (or forRootAsync()) in your root module ' +
          '(it is global, so once is enough).',
      );
    }
    this.registry = registry;
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (!this.registry.requests.enabled) return next.handle();
    const request = describeRequest(context, this.http?.adapter);
    if (request === undefined || this.alreadyHandled(request)) return next.handle();
    let handler: HandlerInfo;
    let key: string;
    let deps: string[] | undefined;
    try {
      handler = this.handlerInfo(context);
      // A global binding caches undecorated GET/HEAD routes only; events always run.
      if ((!handler.decorated && request.transport !== 'http') || handler.isEvent) return next.handle();
      const track = this.trackBy(context, request, handler.options);
      if (track === undefined) {
        this.setHeader(context, request, 'X-Cache', 'BYPASS');
        return next.handle();
      }
      key = typeof track === 'string' ? handler.method.keyForEncoded(track) : handler.method.keyForValue(track);
      const requestTags = handler.options.requestTags?.(request);
      if (requestTags !== undefined)
        deps = tagKeysFor(this.registry.prefix, requestTags, `requestTags of ${handler.method.owner}`);
    } catch (error) {
      // A request the cache cannot key (or tag) is served uncached, never failed.
      this.warnOnce(context, error);
      this.setHeader(context, request, 'X-Cache', 'BYPASS');
      return next.handle();
    }
    const method = handler.method;
    let outcome: string | undefined;
    const scope: CallScope = {
      deps,
      ttlOf: handler.ttlOf,
      refreshInline: true, // a background refresh could not run this request's handler after its response is sent
      report:
        handler.reportsStale || handler.hooked
          ? (state) => {
              outcome = state;
              if (handler.hooked)
                method.fireHook(state === 'fresh' ? 'onHit' : state === 'stale' ? 'onStale' : 'onMiss', {
                  key,
                  args: [request],
                });
            }
          : undefined,
    };
    const response = request.transport === 'http' ? context.switchToHttp().getResponse<HttpResponseLike>() : undefined;
    const before = response === undefined ? undefined : snapshotResponse(response);
    const joined = method.memoizer.isComputing(key);
    let ran = false;
    let own: ((values: unknown[]) => void) | undefined;
    const produced = response === undefined ? undefined : new Promise<unknown[]>((resolve) => (own = resolve));
    const cached = method.memoizer.getOrSet<Entry>(
      key,
      async () => {
        ran = true;
        const values = await lastValueFrom(next.handle().pipe(toArray()));
        if (!this.isCacheable(context, request, values, before)) return { uncacheable: values };
        const meta = response === undefined || before === undefined ? undefined : capturedMeta(response, before);
        const stored: CachedResponse = { values: cloneResponse(values), ...meta };
        if (response === undefined) return stored;
        // Computed once, here: hits answer ETag (304 on a match) and Age without hashing the body.
        stored.etag = strongEtag(values, meta?.headers);
        stored.storedAt = Date.now();
        // This request goes on with its own values; the entry waits until its response is out.
        own!(values);
        return (await finishedWithoutCookie(response, FINISH_WAIT_MS)) ? stored : { uncacheable: stored.values };
      },
      handler.policy,
      scope,
    );
    let result: Entry;
    if (produced !== undefined) {
      const first = await Promise.race([cached.then((entry) => ({ entry })), produced.then((values) => ({ values }))]);
      if ('values' in first) {
        cached.catch(() => undefined); // settles once the response is out; a failure there only costs the entry
        this.label(context, request, 'MISS', key);
        return from(first.values);
      }
      result = first.entry;
    } else {
      result = await cached;
    }
    if ('uncacheable' in result) {
      // Only the caller whose handler produced it may use it (a stream can be read once).
      if (ran) return from(result.uncacheable);
      return next.handle();
    }
    const state = outcome as string | undefined; // set by the report callback, when asked for
    // This request's handler failed and an expired response was served instead (staleIfError).
    const fellBack = ran && state === 'stale';
    // The handler's runtime status and headers, on hits and on calls that joined another's run.
    if ((!ran || fellBack) && response !== undefined) {
      replayMeta(this.http?.adapter, response, result);
      const raw = context.switchToHttp().getRequest<object>();
      applyValidators(this.http?.adapter, response, raw, request.headers['if-none-match'], result);
    }
    const label = fellBack
      ? 'STALE'
      : ran || joined
        ? 'MISS'
        : state === 'stale'
          ? 'STALE'
          : state === 'miss'
            ? 'MISS'
            : 'HIT';
    this.label(context, request, label, key);
    return from(ran && !fellBack ? result.values : cloneResponse(result.values));
  }

  /** Per-handler facts, resolved once. */
  private readonly handlers = new WeakMap<Function, HandlerInfo>();
  private handlerInfo(context: ExecutionContext): HandlerInfo {
    const handler = context.getHandler();
    let info = this.handlers.get(handler);
    if (info === undefined) this.handlers.set(handler, (info = resolveHandler(context, this.registry)));
    return info;
  }

  /**
   * The value the key is built from, or undefined to leave this request uncached. Override to
   * key differently (e.g. add a tenant id); call `super.trackBy` to keep the safety rules.
   */
  protected trackBy(context: ExecutionContext, request: CacheRequest, options: AnyOptions): unknown {
    if (options.skip !== undefined && (options.skip as (r: CacheRequest) => boolean)(request)) return undefined;
    const info = this.handlerInfo(context);
    const identity = identify(request, this.registry.requests.privateHeaders);
    if (!mayCache(identity, options, info.varyHeaders)) return undefined;
    const vary = varyValue(request, options, info.varyHeaders, identity.credentials.length > 0 || identity.user);
    if (vary === null) return undefined;
    const host = this.registry.requests.varyByHost ? request.host : undefined;
    if (request.transport === 'http') {
      if (!cacheableMethod(request, options) || info.ownsResponse) return undefined;
      return httpKeyPart(request, host, info, vary);
    }
    if (request.transport === 'rpc') return { pattern: request.pattern, data: request.data, vary };
    // GraphQL: mutations are never cached. A field resolver's answer depends on its parent, and a
    // resolver that reads `info` may load only the selected subfields: both are in the key.
    const field = String(request.pattern);
    if (field.startsWith('Mutation.') || field.startsWith('Subscription.')) return undefined;
    const gqlInfo = context.getArgs<[unknown, unknown, unknown, GraphqlInfoLike | undefined]>()[3];
    const parent = request.parent === undefined ? undefined : parentIdentity(request.parent, options.parentKey);
    return { host, endpoint: request.route, field, parent, args: request.data, selection: selectionKey(gqlInfo), vary };
  }

  /** Whether a response may be stored and shared. */
  protected isCacheable(
    context: ExecutionContext,
    request: CacheRequest,
    values: unknown[],
    before?: ResponseSnapshot,
  ): boolean {
    const last = values[values.length - 1];
    if (last instanceof StreamableFile || isStream(last)) return false;
    if (request.transport !== 'http') return true;
    const response = context.switchToHttp().getResponse<HttpResponseLike>();
    return !isUncacheableHttpResponse(context, response, before, this.handlerInfo(context).varyHeaders);
  }

  private label(context: ExecutionContext, request: CacheRequest, value: string, key: string): void {
    this.setHeader(context, request, 'X-Cache', value);
    if (this.registry.requests.exposeKeyHeader) this.setHeader(context, request, 'X-Cache-Key', key);
  }

  private readonly warned = new Set<Function>();
  private warnOnce(context: ExecutionContext, error: unknown): void {
    const handler = context.getHandler();
    if (this.warned.has(handler)) return;
    this.warned.add(handler);
    this.logger.warn(
      `${context.getClass().name}.${handler.name} is served uncached: ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  private alreadyHandled(request: CacheRequest): boolean {
    // Bound globally and on the route: the outer instance does the work, the inner passes through.
    // (A WeakSet rather than a property: adding keys to framework request objects slows them.)
    // GraphQL resolves many fields per request: the carrier there is the field's own `info`.
    const carrier = request.transport === 'graphql' ? request.context.getArgs()[3] : request.raw;
    if (carrier === null || typeof carrier !== 'object') return false;
    if (handled.has(carrier)) return true;
    handled.add(carrier);
    return false;
  }

  private setHeader(context: ExecutionContext, request: CacheRequest, name: string, value: string): void {
    if (request.transport !== 'http') return;
    const response = context.switchToHttp().getResponse<HttpResponseLike>();
    const adapter = this.http?.adapter;
    try {
      if (adapter !== undefined) adapter.setHeader(response, name, value);
      else response.setHeader?.(name, value);
    } catch {
      // headers already sent (e.g. a streaming handler): nothing to add
    }
  }
}

function isStream(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { pipe?: unknown }).pipe === 'function';
}
