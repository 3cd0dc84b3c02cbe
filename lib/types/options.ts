import type { Duration } from '../util/duration';
import type { CacheStore, SharedEntryOptions } from './store';
import type { Serializer } from './serializer';
import type { ClassRegistryInput } from './classes';
import type { CacheEventListener } from './events';
import type { CacheRequest } from './request';

/** What a hook is told: the key, which method, its arguments (unknown for store errors), the store. */
export interface CacheHookInfo {
  key: string;
  /** 'ClassName.methodName'. */
  method: string;
  args: readonly unknown[] | undefined;
  store: string;
  error?: unknown;
}

/** Per decorator or per module (the decorator's hook wins). A hook that throws (or rejects) is logged, never breaks the call. */
export interface CacheHooks {
  onHit?: (info: CacheHookInfo) => void;
  onMiss?: (info: CacheHookInfo) => void;
  onStale?: (info: CacheHookInfo) => void;
  onError?: (info: CacheHookInfo) => void;
}

/** A class for `forRootAsync({ useClass })` or `useExisting`: `class CacheConfig implements CacheMemoizeOptionsFactory`. */
export interface CacheMemoizeOptionsFactory {
  createCacheMemoizeOptions(): CacheMemoizeModuleOptions | Promise<CacheMemoizeModuleOptions>;
}

/**
 * Options of `CacheMemoizeModule.forRoot()` / `forRootAsync()`. Durations also take any string
 * (as configuration gives them, e.g. `config.get<string>('CACHE_TTL')`), checked at bootstrap.
 */
export interface CacheMemoizeModuleOptions {
  /** Named stores. Omitted: `{ default: memoryStore() }`. */
  stores?: Record<string, CacheStore>;
  /** Store used when a decorator names none. Default: 'default', or the only store given. */
  defaultStore?: string;
  /** Default time to live: milliseconds, or '30s', '5m', '1h', '1d'. Default '5m'. */
  ttl?: Duration | string;
  /** Prepended to every key, to isolate apps sharing one server. Default 'cm'. */
  prefix?: string;
  /** false: nothing is wrapped, every call goes straight to the method. Default true. */
  enabled?: boolean;
  /** Codec for shared stores (the memory store keeps objects). Default: the tagged-JSON codec. */
  serializer?: Serializer;
  /**
   * Sign entries in shared stores with an HMAC (see the README's Security section): an entry
   * another app, a leaked password or a misconfigured ACL wrote is never served. The first secret
   * signs, every one verifies (rotation). A store's own `secret` wins.
   */
  secret?: SharedEntryOptions['secret'];
  /** Compress large values in shared stores, e.g. `{ threshold: '1kb', algorithm: 'brotli' }`. A store's own wins. */
  compress?: SharedEntryOptions['compress'];
  /**
   * Classes whose instances shared stores may keep: they come back with their prototype (methods,
   * class-transformer metadata), without running their constructor. An instance of any other class
   * is returned but not stored in a shared store (warned once per class and method). An array uses
   * each class's name; a record gives stable names (`{ 'billing.Money': Money }`).
   */
  classes?: ClassRegistryInput;
  /**
   * Request headers that identify a user, beside Authorization, Proxy-Authorization, Cookie and
   * X-Api-Key (always included): a request carrying one is never shared between users unless the
   * route varies by it or is public.
   */
  privateHeaders?: readonly string[];
  /** Key HTTP responses by the request's host name (the adapter's, honouring trust proxy). Default true. */
  varyByHost?: boolean;
  /** Store time one call may spend in total (lookup, version check) before it runs uncached. Default '500ms'. */
  operationTimeout?: Duration | string;
  /** How long bootstrap waits for shared stores to connect (the app starts either way). Default '2s'. */
  connectTimeout?: Duration | string;
  /** Receives hit/miss/set/invalidate/error events. */
  onEvent?: CacheEventListener;
  /** Keep per-method and per-store counters for stats() and metrics. Default true (cheap). */
  stats?: boolean;
  /** Module-wide hooks; a decorator's own hooks win. */
  hooks?: CacheHooks;
  /** Development aid: responses carry `X-Cache-Key` with the key the interceptor used. */
  exposeKeyHeader?: boolean;
  /** OpenTelemetry spans around computations and metrics, when `@opentelemetry/api` is installed. Default true. */
  openTelemetry?: boolean;
  /**
   * Named sets of defaults (dogpile's regions): `{ short: { ttl: '1m' }, long: { ttl: '1h',
   * parent: 'short', store: 'shared' } }`. Used by `@CacheMemoize({ region })`,
   * `cache.region(name)` and `@InjectCache(name)`; see also `regionsFromConfig()`.
   */
  regions?: Record<string, RegionOptions>;
}

/** A region: defaults for the methods and direct calls that name it, over its parent's. */
export interface RegionOptions {
  /** A region whose options this one inherits (its own win). */
  parent?: string;
  ttl?: Duration | string;
  grace?: Duration | string;
  staleIfError?: Duration | string;
  lock?: CacheMemoizeOptions['lock'];
  timeout?: CacheMemoizeOptions['timeout'];
  refreshAhead?: Duration | string;
  /** Name of the store the region's entries live in (a key of the module's `stores`). */
  store?: string;
}

/**
 * Options of `@CacheMemoize()`. `A` is the decorated method's parameter list: annotate the
 * callbacks' parameters (`key: (id: number) => id`) and the compiler checks them against it.
 */
export interface CacheMemoizeOptions<A extends readonly unknown[] = never[], R = unknown> {
  /**
   * Time to live: milliseconds or '30s', '5m', '1h', '1d'; or from the result,
   * `(result, ...args) => Duration` (0: not stored). Default: the module's ttl.
   */
  ttl?: Duration | ((result: Awaited<R>, ...args: ArgsOnly<A>) => Duration);
  /** onHit / onMiss / onStale / onError for this method (each wins over the module's). Same shape as the module's `hooks`. */
  hooks?: CacheHooks;
  /** @deprecated put it in `hooks: { onHit }` (the module's shape); still honoured. */
  onHit?: CacheHooks['onHit'];
  /** @deprecated put it in `hooks: { onMiss }`; still honoured. */
  onMiss?: CacheHooks['onMiss'];
  /** @deprecated put it in `hooks: { onStale }`; still honoured. */
  onStale?: CacheHooks['onStale'];
  /** @deprecated put it in `hooks: { onError }`; still honoured. */
  onError?: CacheHooks['onError'];
  /** Value to key on instead of the arguments (e.g. `(user) => user.id`). */
  key?: (...args: A) => unknown;
  /**
   * Keys calls by the instance too, for classes with several instances whose results differ
   * (one per tenant or configuration): `instanceKey: (self: TenantClient) => self.tenantId`.
   */
  instanceKey?(instance: object): unknown;
  /** Default `ClassName.methodName`. Segments separated by '.' can be invalidated together. */
  namespace?: string;
  /** Tags of the entry, known from the arguments: `(id: number) => [\`user:${id}\`]`, or fixed. */
  tags?: readonly string[] | ((...args: A) => readonly string[]);
  /** Tags known only from the result (dependency keys): `(user) => [\`org:${user.orgId}\`]`. */
  resultTags?: (result: Awaited<R>, ...args: ArgsOnly<A>) => readonly string[];
  /** Name of the store to use (a key of the module's `stores`). */
  store?: string;
  /** A region of the module's `regions`: its defaults apply under this method's own options. */
  region?: string;
  /** Bypass the cache for this call when it returns true. */
  skip?: (...args: A) => boolean;
  /** Cache the result only when it returns true. */
  cacheIf?: (result: Awaited<R>) => boolean;
  /** Bump to drop every entry written under an older version. Default 0. */
  version?: string | number;
  /**
   * Stale-while-revalidate: after `ttl`, for this long, callers get the stale value at once while
   * one call refreshes it in the background (a failing refresh keeps stale served, with back-off).
   */
  grace?: Duration;
  /** Single-flight across processes through the store (Redis, memcached). `true` = defaults. */
  lock?: boolean | { timeout?: Duration; ttl?: Duration };
  /**
   * `soft`: with a stale value at hand (grace), wait at most this long for the refresh.
   * `hard`: reject with CacheMemoizeTimeoutError after this long; the method goes on and is stored.
   */
  timeout?: { soft?: Duration; hard?: Duration };
  /** Recompute a hit in the background when less than this much of its ttl is left. */
  refreshAhead?: Duration;
  /**
   * Stale-if-error: when the method throws (or passes its hard timeout) and an entry expired less
   * than this long ago exists (and was not invalidated), return it instead of the error.
   */
  staleIfError?: Duration;
  /**
   * Checks a value read from a shared store before it is served: a predicate (sync or async), or
   * any Standard Schema (zod, valibot, arktype...). An entry that fails is a miss (deleted and
   * recomputed), so a deploy that changes a result's shape never serves the old shape.
   */
  validate?: ((value: Awaited<R>) => boolean | PromiseLike<boolean>) | StandardSchemaLike;
  /** With `validate`: upgrades an entry that fails it instead (served and written back). */
  migrate?: (old: unknown) => Awaited<R>;
  /** Negative caching: errors that match are cached for their own ttl and thrown on every hit. Default: none. */
  cacheErrors?: CacheErrorsOptions;
  /** false: remember only that the call ran (at most once per ttl); hits return undefined. */
  storeResult?: boolean;
  /** Validation token from the arguments: an entry written under another token is stale. */
  etag?: (...args: A) => string | number;

  // Handlers (controllers, microservices, resolvers): the interceptor keys on the request.
  /**
   * Vary the cached response by these request headers (`['accept-language']`), or by a value
   * taken from the request (`(req) => req.user?.id`). A request identified by a credential header
   * (Authorization, Cookie...) or `req.user` is cached only when the headers listed include every
   * credential it carries (one entry per value), or when the function reads who the request is
   * (its result is then the identity; one reading only other headers names no one), or with
   * `public`. Anything else is served uncached.
   */
  vary?: readonly string[] | ((request: CacheRequest) => unknown);
  /** Share one response between requests carrying Authorization or Cookie (public data only). */
  public?: boolean;
  /** Tags of a handler's response, from the request: `(req) => [\`user:${req.params.id}\`]`. */
  requestTags?: (request: CacheRequest) => readonly string[];
  /**
   * GraphQL field resolvers: the part of the parent the answer depends on (default: the whole
   * parent, hashed, or its `cacheKey()`). `(post) => post.id` when the field reads only the id.
   */
  parentKey?(parent: never): unknown;
  /** HTTP methods whose responses may be cached. Default ['GET', 'HEAD']. */
  httpMethods?: readonly string[];
}

/** `A`, without letting a callback that declares fewer parameters narrow what `A` is inferred as. */
export type ArgsOnly<A extends readonly unknown[]> = [A] extends [never] ? never[] : A;

/**
 * Options of `@CacheMemoizeMany()`: the method's first parameter is a list of item ids, each item
 * cached as its own entry, keyed like a single call `(id, ...rest)` in the namespace. `Id` is an
 * item id, `Rest` the further parameters (shared key parts), `Item` one item of the result.
 */
export interface CacheMemoizeManyOptions<
  Id = never,
  Rest extends readonly unknown[] = never[],
  Item = unknown,
> extends Pick<
  CacheMemoizeOptions<[Id, ...Rest], Item>,
  | 'ttl'
  | 'hooks'
  | 'instanceKey'
  | 'namespace'
  | 'store'
  | 'region'
  | 'version'
  | 'grace'
  | 'lock'
  | 'timeout'
  | 'refreshAhead'
  | 'staleIfError'
  | 'validate'
  | 'migrate'
> {
  /** Value to key one item on instead of `(id, ...rest)`; the same as the single-item method's `key`. */
  key?: (id: Id, ...rest: Rest) => unknown;
  /** Tags of one item, from its id: `(id: number) => [\`user:${id}\`]`, or fixed. */
  tags?: readonly string[] | ((id: Id, ...rest: Rest) => readonly string[]);
  /** Tags of one item known only from the item: `(user) => [\`org:${user.orgId}\`]`. */
  resultTags?: (item: Item, id: Id, ...rest: Rest) => readonly string[];
  /** Cache an item only when it returns true. */
  cacheIf?: (item: Item) => boolean;
  /** Bypass the cache for the whole call when it returns true. */
  skip?: (ids: Id[], ...rest: Rest) => boolean;
  /**
   * What the method returns: an array aligned with the ids it was given (default), a `Map` keyed
   * by id, or a record keyed by `String(id)`. The memoized method returns the same shape for the
   * ids it was called with.
   */
  result?: 'array' | 'map' | 'record';
  /** false: an id a map or record result leaves out is not cached (default true: cached as undefined). */
  cacheMissing?: boolean;
  /** At most this many ids per method call; a longer list of missing ids is loaded in several calls. */
  maxBatch?: number;
}

/** `cacheErrors` of `@CacheMemoize`. */
export interface CacheErrorsOptions {
  /** Which errors: `(error) => error instanceof NotFoundException`, or `[NotFoundException, GoneException]`. */
  when: ((error: unknown) => boolean) | ReadonlyArray<abstract new (...args: never[]) => unknown>;
  /** How long a cached error is thrown again (short: '30s'). */
  ttl: Duration;
}

/** Any Standard Schema (https://standardschema.dev): zod 3.24+, valibot 1, arktype 2... */
export interface StandardSchemaLike {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardSchemaResult | Promise<StandardSchemaResult>;
  };
}

export type StandardSchemaResult =
  | { readonly value: unknown; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string }> };
