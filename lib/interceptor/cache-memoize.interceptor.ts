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
import { currentControl } from '../engine/reentry';
import { InvalidOptionError } from '../errors';
import { tagKeysFor } from '../keys/keys';
import { currentCacheMode, type CacheMode } from '../method/cache-mode';
import { MethodRegistry } from '../method/method-registry';
import type { CacheMemoizeOptions } from '../types/options';
import type { CallScope } from '../types/policy';
import type { CacheRequest, HttpAdapterRef } from '../types/request';
import { describeRequest, USER_SET_LATE, userSetSince } from './describe-request';
import { graphqlTrack, type GraphqlInfoLike } from './graphql-key';
import { joinsOf, type GraphqlJoins, type Produced } from './graphql-joins';
import { alreadyHandled, cachingClass, interceptorChain, keepsIntercept, markHandled, ofFamily } from './bindings';
import { HOOKS, keyOf, neverCached, resolveHandler, warnUncached, type HandlerInfo } from './handler-info';
import { HttpResponder, type Entry } from './http-responder';
import { cacheLabel, joinedAt, timedRun } from './cache-label';
import { httpKeyPart, isHead, identify, varyValue } from './request-key';
import { runHandler } from './handler-stream';
import { cloneResponse } from './response-clone';
import {
  graphqlResponse,
  resolverWrote,
  snapshotResponse,
  type HttpResponseLike,
  type ResponseSnapshot,
} from './response-meta';
import {
  carriesError,
  headersWithoutCookie,
  isStream,
  isUncacheableHttpResponse,
  staleStandsInFor,
} from './response-rules';

type AnyOptions = CacheMemoizeOptions<readonly unknown[], unknown>;

/**
 * Caches controller, microservice and resolver responses. Applied by `@CacheMemoize()` on a
 * handler or controller, by `@UseInterceptors(CacheMemoizeInterceptor)`, or globally with
 * APP_INTERCEPTOR (then every undecorated GET/HEAD route is cached with the module's defaults;
 * RPC and GraphQL handlers only when decorated).
 *
 * Keys: see trackBy. A request that identifies a user is never shared unless the route varies by
 * that identity or is public. Every response served is a copy: no request's changes reach another.
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
          '(global by default, so once is enough). With isGlobal: false, every module whose controllers or providers use @CacheMemoize must import it too: ' +
          'export the configured module from a shared module and import that one here (see README, Quick start).',
      );
    }
    this.registry = registry;
    this.responder = new HttpResponder(http, passesThrough);
    this.joins = joinsOf(registry); // one per app: a request's fields may go through several of ours
  }

  private readonly responder: HttpResponder;
  private readonly joins: GraphqlJoins;

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (!this.registry.requests.enabled) return next.handle();
    const request = describeRequest(context, this.responder.adapter);
    if (request === undefined || alreadyHandled(request)) return next.handle();
    const response = request.transport === 'http' ? context.getArgByIndex<HttpResponseLike>(1) : undefined;
    // The HTTP response the handler may write to: a GraphQL resolver's is in its context.
    const http = response ?? (request.transport === 'graphql' ? graphqlResponse(request.raw) : undefined);
    let handler: HandlerInfo;
    let mode: CacheMode | undefined;
    let key: string;
    let deps: string[] | undefined;
    try {
      handler = this.handlerInfo(context);
      // Another of ours bound to this handler caches it (bindings.ts): it must see the request unmarked.
      if (handler.defers) return next.handle();
      // A global binding caches undecorated GET/HEAD routes only; events and writes always run, streams never end.
      if ((!handler.decorated && request.transport !== 'http') || handler.alwaysRuns || handler.isStream)
        return this.pass(request, next);
      mode = currentCacheMode(); // withCacheMode around the request (a middleware's): 'bypass' skips the cache
      handler.ownTrack = undefined;
      const track = mode === 'bypass' ? undefined : this.trackBy(context, request, handler.options);
      if (track === undefined || track === null || track === '' || track === false) {
        this.responder.setHeader(response, 'X-Cache', 'BYPASS');
        return this.pass(request, next);
      }
      key = track === handler.ownTrack ? keyOf(handler, track) : handler.method.keyForValue(track);
      const requestTags = handler.options.requestTags?.(request);
      if (requestTags !== undefined)
        deps = tagKeysFor(this.registry.prefix, requestTags, `requestTags of ${handler.method.owner}`);
    } catch (error) {
      // A request the cache cannot key (or tag) is served uncached, never failed.
      warnUncached(this.logger, this.warned, context, error);
      this.responder.setHeader(response, 'X-Cache', 'BYPASS');
      return this.pass(request, next);
    }
    const method = handler.method;
    let outcome: 'fresh' | 'stale' | 'miss' | undefined;
    const scope: CallScope = {
      deps,
      ttlOf: handler.ttlOf,
      refreshInline: true, // a background refresh could not run this request's handler after its response is sent
      staleOnError: staleStandsInFor,
      // Told synchronously on a hit from memory: such a hit then skips the race below.
      report: (state) => {
        outcome = state;
        if (handler.hooked) method.fireHook(HOOKS[state], { key, args: [request] });
      },
    };
    const refresh = mode === 'refresh'; // recomputes and replaces the entry, as a method's refresh does
    const joined = refresh ? undefined : joinedAt(method.memoizer, key);
    let ran = false;
    let produced: unknown[] | undefined;
    let own: ((values: unknown[]) => void) | undefined;
    let live: Observable<unknown> | undefined;
    let before: ResponseSnapshot | undefined;
    const computed = method.memoizer[refresh ? 'refresh' : 'getOrSet']<Entry>(
      key,
      timedRun(method.memoizer, key, async () => {
        ran = true;
        const control = currentControl(); // its computation's: an invalidation may detach it
        // Only what the handler (or an interceptor inside this one) sets belongs to the entry.
        before = http === undefined ? undefined : snapshotResponse(http);
        markHandled(request);
        let values: unknown[];
        if (response === undefined) {
          // RPC and GraphQL: a stream still open after its first emission goes through live, uncached.
          const outcome = await runHandler(next.handle(), (partial) => (live = partial));
          if ('live' in outcome) {
            live = outcome.live;
            return { uncacheable: [] };
          }
          values = outcome.values;
        } else values = await lastValueFrom(next.handle().pipe(toArray()));
        // HEAD is answered from the GET entry but never fills it: its handler may skip the body.
        if (isHead(request) || carriesError(values) || !this.isCacheable(context, request, values, before))
          return { uncacheable: values };
        const exact = response !== undefined && this.responder.sendsAsIs(context, handler, this, response);
        const stored = this.responder.entryFor(values, response, before, exact);
        if (http === undefined) return stored;
        // The ETag hits will send: a client revalidating with the one it got first gets its 304.
        if (stored.etag !== undefined) this.responder.setHeader(response, 'ETag', stored.etag);
        // This request goes on with its own values; the entry waits until its response is out.
        produced = values;
        own?.(values);
        if (request.transport === 'graphql') this.joins.produce(key, http, values, control);
        const shareable = await headersWithoutCookie(http);
        this.joins.settled(key, http);
        return shareable ? stored : { uncacheable: stored.values };
      }),
      handler.policy,
      scope,
    );
    // Its stream failed after emitting and no stale entry stood in: the caller gets what it emitted, then the error.
    const cached = computed.catch((error: unknown) => (ran && live ? { uncacheable: [] } : Promise.reject(error)));
    let result: Entry;
    if (http !== undefined && (outcome as string | undefined) !== 'fresh') {
      // The handler's response goes out before its entry is stored (which waits for the response to finish).
      const first = await new Promise<{ entry: Entry } | { values: unknown[] } | Produced>((resolve, reject) => {
        if (produced !== undefined) return resolve({ values: produced });
        own = (values) => resolve({ values });
        cached.then((entry) => resolve({ entry }), reject);
        if (request.transport === 'graphql') this.joins.wait(key, http, (p) => ran || resolve(p), cached);
      });
      if ('response' in first) {
        cached.catch(() => undefined);
        // Computed for this very response: its values; for another request's (this one holds entries): uncached.
        return first.response === http ? from(cloneResponse(first.values)) : this.pass(request, next);
      }
      if ('values' in first) {
        cached.catch(() => undefined); // settles once the response is out; a failure there only costs the entry
        this.responder.label(response, 'MISS', key, this.registry.requests.exposeKeyHeader);
        return from(first.values);
      }
      result = first.entry;
    } else {
      result = await cached;
    }
    if ('uncacheable' in result) {
      // Only the caller whose handler produced it may use it (a stream can be read once).
      if (ran) {
        if (live !== undefined) return live;
        this.responder.setHeader(response, 'X-Cache', 'BYPASS');
        return from(result.uncacheable);
      }
      return this.pass(request, next);
    }
    const state = handler.reportsStale || handler.hooked ? (outcome as string | undefined) : undefined;
    const fellBack = ran && state === 'stale';
    const label = cacheLabel(ran, fellBack, joined, state, result.storedAt);
    const exposeKey = this.registry.requests.exposeKeyHeader;
    if (ran && !fellBack) {
      this.responder.label(response, label, key, exposeKey);
      return from(result.values);
    }
    if (response === undefined) return from(cloneResponse(result.values));
    // The handler's runtime status and headers, on hits and on calls that joined another's run.
    return from(
      this.responder.answer(context, handler, response, result, request.headers, {
        label,
        key,
        exposeKey,
        interceptor: this,
        undo: fellBack ? before : undefined,
      }),
    );
  }

  /**
   * Per-handler facts, resolved once per controller class and handler: a handler a controller
   * inherits is the same function in both, with each class's own options, version and host.
   */
  private readonly handlers = new WeakMap<Function, WeakMap<Function, HandlerInfo>>();
  private handlerInfo(context: ExecutionContext): HandlerInfo {
    const handler = context.getHandler();
    const cls = context.getClass();
    let ofClass = this.handlers.get(cls);
    if (ofClass === undefined) this.handlers.set(cls, (ofClass = new WeakMap()));
    let info = ofClass.get(handler);
    if (info === undefined) {
      // A trackBy of its own may key by what the handler reads (a tenant header): not warned about.
      info = resolveHandler(context, this.registry, this.logger, this.trackBy !== OURS.trackBy);
      const chain = interceptorChain(context, this.http?.globalInterceptors);
      info.defers = cachingClass(chain, this.constructor, CacheMemoizeInterceptor, isOurs) !== this.constructor;
      ofClass.set(handler, info);
    }
    return info;
  }

  /**
   * The value the key is built from, or undefined to leave this request uncached: for HTTP, host +
   * route pattern + version + params + sorted query + declared vary (+ method and body for methods
   * other than GET/HEAD, + a GET's body); for RPC, pattern + payload; for GraphQL, host + endpoint +
   * Type.field + parent + args + selection set (graphql-key.ts). The handler is added. Override to
   * key differently (e.g. add a tenant id); call `super.trackBy` to keep the safety rules.
   */
  protected trackBy(context: ExecutionContext, request: CacheRequest, options: AnyOptions): unknown {
    if (options.skip !== undefined && (options.skip as (r: CacheRequest) => boolean)(request)) return undefined;
    const info = this.handlerInfo(context);
    if (neverCached(request, options, info)) return undefined; // before any warning about who it is (review)
    const identity = identify(request, this.registry.requests.privateHeaders);
    const vary = varyValue(request, options, info.varyHeaders, identity);
    if (typeof vary === 'string') return warnUncached(this.logger, this.warned, context, vary);
    // A host-routed controller (`host: ':tenant.example.com'`) answers per host whatever varyByHost says (review).
    const host = this.registry.requests.varyByHost || info.declaredHost !== '-' ? request.host : undefined;
    if (request.transport === 'http') return (info.ownTrack = httpKeyPart(request, host, info, vary));
    if (request.transport === 'rpc') return { pattern: request.pattern, data: request.data, vary };
    return graphqlTrack(request, context.getArgs<unknown[]>()[3] as GraphqlInfoLike | undefined, options, host, vary);
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
    if (userSetSince(request)) return warnUncached(this.logger, this.warned, context, USER_SET_LATE) ?? false;
    // A resolver that set a header or cookie (a new visitor's cart id): its hits could not send them.
    if (request.transport === 'graphql') return !resolverWrote(request.raw, before);
    if (request.transport !== 'http') return true;
    const response = context.switchToHttp().getResponse<HttpResponseLike>();
    return !isUncacheableHttpResponse(context, response, before, this.handlerInfo(context).varyHeaders);
  }

  private readonly warned = new WeakMap<Function, Set<string>>();
  /** The request goes on uncached (to the handler, through any interceptor inside this one). */
  private pass(request: CacheRequest, next: CallHandler): Observable<unknown> {
    markHandled(request);
    return next.handle();
  }
}

const isOurs = (interceptor: unknown) => ofFamily(CacheMemoizeInterceptor, interceptor);
const passesThrough = (interceptor: unknown) => keepsIntercept(CacheMemoizeInterceptor, interceptor);
const OURS = CacheMemoizeInterceptor.prototype;
