import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CACHE_MEMOIZE_METADATA } from './constants';
import { CACHE_MEMOIZE_MODULE_OPTIONS } from './cache-memoize.module-definition';
import type { CacheHookInfo, CacheHooks, CacheMemoizeModuleOptions, CacheMemoizeOptions } from './cache-memoize.options';
import { CacheEventStream } from './core/event-stream';
import { StatsCollector, type CacheStats } from './core/stats';
import { openTelemetry, type Telemetry } from './core/telemetry';
import { parseDuration } from './core/duration';
import type { CacheEvent } from './core/events';
import { allTagKey, keyBase, namespaceSegments, namespaceTagKey, tagKeysFor, validateSegment } from './core/keys';
import { MemoizedMethod, type BasePolicy, type ResultShape } from './core/memoized-method';
import { Memoizer } from './core/memoizer';
import { InvalidOptionError, NamespaceConflictError, UncacheableValueError, UnknownMethodError, UnknownStoreError } from './errors';
import { createTaggedJsonSerializer } from './serialization/tagged-json.serializer';
import { setFallbackEvictor, type CacheEvictOptions, type Evictor } from './decorators/cache-evict.decorator';
import type { CacheStore } from './stores/cache-store.interface';
import { memoryStore } from './stores/memory.store';

type AnyOptions = CacheMemoizeOptions<readonly unknown[], unknown>;
interface NamespaceClaim {
  cls: Function;
  owner: string;
  kind: 'provider' | 'handler';
  module?: string;
}
const ERROR_LOG_INTERVAL_MS = 60_000;

/**
 * Owns the stores (one Memoizer each), the module defaults and the registry of memoized
 * methods. Everything the decorators, the explorer and InvalidationService share lives here.
 */
@Injectable()
export class CacheMemoizeEngine implements OnModuleInit, OnApplicationShutdown, Evictor {
  readonly prefix: string;
  readonly ttlMs: number;
  readonly enabled: boolean;
  readonly defaultStore: string;
  private readonly connectTimeoutMs: number;
  private readonly logger = new Logger('CacheMemoize');
  private readonly memoizers = new Map<string, Memoizer>();
  private readonly methods = new Map<Function, Map<string, MemoizedMethod>>();
  private readonly namespaces = new Map<string, NamespaceClaim[]>();
  private readonly lastErrorLog = new Map<string, { at: number; suppressed: number }>();
  private readonly byOwner = new Map<string, MemoizedMethod>();
  private readonly collector = new StatsCollector();
  private readonly telemetry: Telemetry | undefined;
  /** The event stream: `engine.events.subscribe((event) => ...)`. */
  readonly events = new CacheEventStream();
  readonly exposeKeyHeader: boolean;
  /** Lower-case names of the headers that make a request private (credentials). */
  readonly privateHeaders: readonly string[];
  readonly varyByHost: boolean;
  private readonly warnedUncacheable = new Set<string>();

  constructor(@Inject(CACHE_MEMOIZE_MODULE_OPTIONS) private readonly options: CacheMemoizeModuleOptions) {
    const where = 'CacheMemoizeModule.forRoot()';
    this.prefix = validateSegment(options.prefix ?? 'cm', 'prefix', where, 64);
    this.ttlMs = parseDuration(options.ttl ?? '5m', `${where} option ttl`);
    this.enabled = options.enabled !== false;
    const timeoutMs = parseDuration(options.operationTimeout ?? '1s', `${where} option operationTimeout`);
    this.connectTimeoutMs = parseDuration(options.connectTimeout ?? '2s', `${where} option connectTimeout`, { allowZero: true });
    this.exposeKeyHeader = options.exposeKeyHeader === true;
    if (options.onEvent !== undefined) this.events.subscribe(options.onEvent);
    this.telemetry = options.openTelemetry === false ? undefined : openTelemetry(() => this.stats());
    const stores: Record<string, CacheStore> = options.stores ?? { default: memoryStore() };
    const names = Object.keys(stores);
    if (names.length === 0) throw new InvalidOptionError(`${where}: stores must name at least one store.`);
    this.defaultStore = options.defaultStore ?? (names.length === 1 ? names[0] : 'default');
    if (!(this.defaultStore in stores)) {
      throw new UnknownStoreError(
        `${where}: defaultStore '${this.defaultStore}' is not one of the stores (${names.join(', ')}). Set defaultStore to one of them.`,
      );
    }
    if (options.classes !== undefined && options.serializer !== undefined) {
      throw new InvalidOptionError(
        `${where}: classes configures the default codec, but a serializer is given too. Build yours with ` +
          `createTaggedJsonSerializer({ classes }) or drop one of the two options.`,
      );
    }
    const serializer = options.serializer ?? createTaggedJsonSerializer({ classes: options.classes });
    this.privateHeaders = privateHeaderSet(options.privateHeaders, where);
    this.varyByHost = options.varyByHost !== false;
    for (const name of names) {
      const store = stores[name];
      if (store === null || typeof store !== 'object' || typeof store.getMany !== 'function') {
        throw new InvalidOptionError(`${where}: stores.${name} is not a store; use memoryStore(), redisStore() or memcachedStore().`);
      }
      this.memoizers.set(
        name,
        new Memoizer(store, {
          name,
          prefix: this.prefix,
          serializer,
          operationTimeoutMs: timeoutMs,
          clockTolerance: options.clockTolerance,
          stats: options.stats === false ? undefined : this.collector,
          hotEvents: () => this.events.active,
          traceCompute: this.telemetry?.traceCompute,
          listener: (event) => this.onEvent(event),
        }),
      );
    }
  }

  memoizer(name: string = this.defaultStore, where = 'CacheMemoize'): Memoizer {
    const memoizer = this.memoizers.get(name);
    if (memoizer === undefined) {
      throw new UnknownStoreError(
        `${where}: store '${name}' is not configured. Known stores: ${[...this.memoizers.keys()].join(', ')}. ` +
          `Add it to CacheMemoizeModule.forRoot({ stores }) or fix the store option.`,
      );
    }
    return memoizer;
  }

  storeNames(): string[] {
    return [...this.memoizers.keys()];
  }

  memoizersFor(store?: string): Memoizer[] {
    return store === undefined ? [...this.memoizers.values()] : [this.memoizer(store, 'InvalidationService')];
  }

  /** The resolved method of a class, from the registry or, for classes not instantiated, from metadata. */
  method(cls: Function, methodName: string): MemoizedMethod {
    const known = this.methods.get(cls)?.get(methodName);
    if (known !== undefined) return known;
    const fn = (cls.prototype as Record<string, unknown> | undefined)?.[methodName];
    const options = typeof fn === 'function' ? readOptions(fn) : undefined;
    if (options === undefined) {
      throw new UnknownMethodError(
        `${cls.name}.${methodName} is not memoized: decorate it with @CacheMemoize() or check the class and method name.`,
      );
    }
    return this.register(cls, methodName, options);
  }

  /**
   * Resolves and validates a decorated method; fails with errors that name it. `kind: 'handler'`
   * for controller and resolver handlers, whose keys also carry the route (so two handler classes
   * of one name may share a namespace); `module` names the provider's module in conflict errors.
   */
  register(cls: Function, methodName: string, methodOptions: AnyOptions, meta: { kind?: 'provider' | 'handler'; module?: string } = {}): MemoizedMethod {
    const known = this.methods.get(cls)?.get(methodName);
    if (known !== undefined) return known;
    const owner = `${cls.name}.${methodName}`;
    const classOptions = (Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) ?? {}) as AnyOptions;
    const opts: AnyOptions = { ...classOptions, ...methodOptions };
    const where = `@CacheMemoize on ${owner}`;
    const namespace = validateSegment(opts.namespace ?? owner, 'namespace', where, 100);
    const version = validateSegment(opts.version ?? 0, 'version', where, 32);
    const ttlMs = opts.ttl === undefined ? this.ttlMs : parseDuration(opts.ttl, `${where}: option ttl`);
    const base = basePolicy(opts, where);
    for (const name of ['key', 'skip', 'cacheIf', 'resultTags', 'etag'] as const) {
      if (opts[name] !== undefined && typeof opts[name] !== 'function') {
        throw new InvalidOptionError(`${where}: option ${name} must be a function, got ${typeof opts[name]}.`);
      }
    }
    if (opts.tags !== undefined && typeof opts.tags !== 'function' && !Array.isArray(opts.tags)) {
      throw new InvalidOptionError(`${where}: option tags must be an array of strings or a function returning one.`);
    }
    const memoizer = this.memoizer(opts.store ?? this.defaultStore, `${where}: option store`);
    this.claimNamespace(namespace, { cls, owner, kind: meta.kind ?? 'provider', module: meta.module }, where);
    const method = new MemoizedMethod({
      owner,
      namespace,
      prefix: this.prefix,
      keyBase: keyBase(this.prefix, namespace, version),
      ttlMs,
      memoizer,
      namespaceTagKeys: [allTagKey(this.prefix), ...namespaceSegments(namespace).map((ns) => namespaceTagKey(this.prefix, ns))],
      options: opts,
      base,
      hooks: mergeHooks(this.options.hooks, opts),
      counters: this.options.stats === false ? undefined : this.collector.forOwner(owner),
      onHookError: (hook, error) => this.logger.error(`${hook} hook of ${owner} threw: ${error instanceof Error ? error.message : String(error)}`),
      shapeHint: shapeHint(cls, methodName),
      warn: (message) => this.logger.warn(message),
    });
    let byName = this.methods.get(cls);
    if (byName === undefined) this.methods.set(cls, (byName = new Map()));
    byName.set(methodName, method);
    this.byOwner.set(owner, method);
    return method;
  }

  /**
   * A namespace belongs to one class: two distinct provider classes (even of the same name, in
   * different modules) would read and overwrite each other's entries. Handler classes may share
   * one, since their keys carry the route.
   */
  private claimNamespace(namespace: string, claim: NamespaceClaim, where: string): void {
    const claims = this.namespaces.get(namespace) ?? [];
    const same = (c: NamespaceClaim) => c.cls === claim.cls && c.owner === claim.owner;
    const other = claims.find((c) => !same(c) && !(c.kind === 'handler' && claim.kind === 'handler' && c.cls !== claim.cls));
    if (other !== undefined) {
      const describe = (c: NamespaceClaim) => `${c.owner} (class ${c.cls.name}${c.module ? ` in ${c.module}` : ''})`;
      throw new NamespaceConflictError(
        `${where}: namespace '${namespace}' is already used by ${describe(other)}; ${describe(claim)} is ${other.cls === claim.cls ? 'another method' : 'a different class'}, ` +
          `so their entries would overwrite each other. Give one of them a distinct namespace option, ` +
          `e.g. @CacheMemoize({ namespace: '${claim.module ? `${claim.module}.` : ''}${claim.owner}' }).`,
      );
    }
    if (!claims.some(same)) this.namespaces.set(namespace, [...claims, claim]);
  }

  /**
   * Waits (bounded) for shared stores to connect and says what each store is, so a
   * misconfigured Redis is visible at boot. A store that is down does not stop the app.
   */
  async onModuleInit(): Promise<void> {
    setFallbackEvictor(this);
    await Promise.all(
      [...this.memoizers.values()].map(async (m) => {
        const what = `${m.store.kind}${m.store.description ? ` ${m.store.description}` : ''}`;
        if (m.store.ready === undefined) {
          this.logger.log(`store '${m.name}': ${what}`);
          return;
        }
        const ok = await m.store.ready(this.connectTimeoutMs);
        if (ok) this.logger.log(`store '${m.name}': ${what}, connected`);
        else this.logger.warn(`store '${m.name}': ${what} is not reachable yet; memoized calls run uncached until it is.`);
      }),
    );
  }

  /**
   * Runs a `@CacheEvict`: the method already succeeded (or has yet to run), so a store failure
   * here is logged and reported, never thrown into the caller's request.
   */
  async evict(spec: CacheEvictOptions<readonly unknown[], unknown>, args: readonly unknown[], result: unknown, owner: string): Promise<void> {
    try {
      const list = (source: CacheEvictOptions<readonly unknown[]>['tags']): readonly string[] =>
        source === undefined ? [] : typeof source === 'function' ? source(...args) : source;
      const tags = [...list(spec.tags), ...(spec.resultTags && !spec.before ? spec.resultTags(result, ...args) : [])];
      const tagKeys = [
        ...tagKeysFor(this.prefix, tags, `@CacheEvict on ${owner}`),
        ...list(spec.namespaces).map((ns) => namespaceTagKey(this.prefix, ns)),
      ];
      const keys = list(spec.keys);
      const memoizers = this.memoizersFor(spec.store);
      await Promise.all([
        ...(tagKeys.length > 0 ? memoizers.map((m) => m.invalidateTagKeys(tagKeys)) : []),
        ...(keys.length > 0 ? memoizers.map((m) => m.deleteKeys(keys)) : []),
        ...(spec.methods ?? []).map((call) => {
          const method = this.method(call.cls, call.method);
          return method.memoizer.deleteKeys([method.keyFor(call.args(...args))]);
        }),
      ]);
    } catch (error) {
      this.logger.error(`@CacheEvict on ${owner} could not bust the cache: ${error instanceof Error ? error.message : String(error)}`);
      this.options.onEvent?.({ type: 'error', store: spec.store ?? '*', key: owner, owner, operation: 'evict', error });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    setFallbackEvictor(undefined);
    this.telemetry?.close();
    await Promise.all(
      [...this.memoizers.values()].map((m) =>
        m.store.disconnect().catch((error: unknown) => this.logger.warn(`closing store '${m.name}' failed: ${String(error)}`)),
      ),
    );
  }

  /** Hits, misses, stale serves and errors, per namespace (method) and per store, since boot. */
  stats(): CacheStats {
    return this.collector.snapshot();
  }

  private onEvent(event: CacheEvent): void {
    this.events.publish(event);
    if (event.type === 'uncacheable') this.warnUncacheable(event);
    if (event.type === 'error' && event.owner !== undefined) {
      const method = this.byOwner.get(event.owner);
      method?.fireHook('onError', { key: event.key, args: undefined, error: event.error });
    }
    if (event.type === 'circuit') this.logCircuit(event);
    else if (event.type === 'error' && this.memoizers.get(event.store)?.breaker.state === 'closed') this.logError(event);
  }

  /** Once per method and class: the value was returned, but no shared store will ever keep it. */
  private warnUncacheable(event: Extract<CacheEvent, { type: 'uncacheable' }>): void {
    const what = event.error instanceof UncacheableValueError ? event.error.className : event.error instanceof Error ? event.error.message : String(event.error);
    const id = `${event.owner ?? event.key}|${what}`;
    if (this.warnedUncacheable.has(id)) return;
    if (this.warnedUncacheable.size < 1_000) this.warnedUncacheable.add(id);
    const reason = event.error instanceof Error ? event.error.message : String(event.error);
    this.logger.warn(`${event.owner ?? event.key}: not stored in store '${event.store}': ${reason}`);
  }

  /** An outage is reported twice: when the store is given up on, and when it answers again. */
  private logCircuit(event: Extract<CacheEvent, { type: 'circuit' }>): void {
    if (event.state === 'open') {
      const reason = event.error instanceof Error ? event.error.message : String(event.error);
      this.logger.error(
        `store '${event.store}' is failing (${event.failures} consecutive errors, last: ${reason}); ` +
          `memoized calls run uncached until it answers again.`,
      );
    } else {
      this.logger.log(
        `store '${event.store}' answers again after ${Math.round(event.downForMs)} ms; ${event.skipped} store calls were skipped meanwhile.`,
      );
    }
  }

  /** Other errors are logged once per store and operation per minute, with a count, not per call. */
  private logError(event: Extract<CacheEvent, { type: 'error' }>): void {
    const id = `${event.store}:${event.operation}`;
    const now = Date.now();
    const last = this.lastErrorLog.get(id);
    if (last !== undefined && now - last.at < ERROR_LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ? ` (${last.suppressed} similar errors since the last report)` : '';
    this.lastErrorLog.set(id, { at: now, suppressed: 0 });
    const reason = event.error instanceof Error ? event.error.message : String(event.error);
    const who = event.owner ? ` for ${event.owner}` : '';
    this.logger.warn(`store '${event.store}' ${event.operation} failed${who} (key ${event.key}): ${reason}${suppressed}`);
  }
}

export function readOptions(fn: Function): AnyOptions | undefined {
  return Reflect.getMetadata(CACHE_MEMOIZE_METADATA, fn) as AnyOptions | undefined;
}

/** The decorator's hooks win over the module's, one by one. */
function mergeHooks(module: CacheHooks | undefined, method: CacheHooks): CacheHooks | undefined {
  const merged: CacheHooks = {};
  for (const name of ['onHit', 'onMiss', 'onStale', 'onError'] as const) {
    const hook = method[name] ?? module?.[name];
    if (hook !== undefined) {
      if (typeof hook !== 'function') throw new InvalidOptionError(`option ${name} must be a function.`);
      merged[name] = hook;
    }
  }
  return Object.keys(merged).length > 0 ? merged : undefined;
}

export type { CacheHookInfo };

/** grace, lock, timeout, refreshAhead and storeResult, parsed and checked once at bootstrap. */
function basePolicy(opts: AnyOptions, where: string): BasePolicy {
  const base: BasePolicy = {};
  if (opts.grace !== undefined) base.graceMs = parseDuration(opts.grace, `${where}: option grace`, { allowZero: true });
  if (opts.lock !== undefined && opts.lock !== false) {
    const lock = opts.lock === true ? {} : opts.lock;
    if (typeof lock !== 'object' || lock === null) throw new InvalidOptionError(`${where}: option lock must be true or { timeout, ttl }.`);
    const waitMs = parseDuration(lock.timeout ?? '5s', `${where}: option lock.timeout`);
    base.lock = { waitMs, ttlMs: parseDuration(lock.ttl ?? Math.max(waitMs * 2, 10_000), `${where}: option lock.ttl`) };
  }
  if (opts.timeout !== undefined) {
    if (opts.timeout.soft !== undefined) base.softTimeoutMs = parseDuration(opts.timeout.soft, `${where}: option timeout.soft`);
    if (opts.timeout.hard !== undefined) base.hardTimeoutMs = parseDuration(opts.timeout.hard, `${where}: option timeout.hard`);
    if (base.softTimeoutMs !== undefined && opts.grace === undefined) {
      throw new InvalidOptionError(`${where}: timeout.soft serves the stale value, so it needs grace (e.g. grace: '1m').`);
    }
  }
  if (opts.refreshAhead !== undefined) base.refreshAheadMs = parseDuration(opts.refreshAhead, `${where}: option refreshAhead`);
  if (opts.storeResult !== undefined) {
    if (typeof opts.storeResult !== 'boolean') throw new InvalidOptionError(`${where}: option storeResult must be a boolean.`);
    base.storeResult = opts.storeResult;
  }
  return base;
}

/** Headers that always identify a user, plus the configured ones (lower-case, deduplicated). */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key'];
function privateHeaderSet(extra: readonly string[] | undefined, where: string): readonly string[] {
  if (extra !== undefined && (!Array.isArray(extra) || extra.some((h) => typeof h !== 'string' || h.trim() === ''))) {
    throw new InvalidOptionError(`${where}: privateHeaders must be an array of header names, e.g. ['x-session-token'].`);
  }
  return [...new Set([...CREDENTIAL_HEADERS, ...(extra ?? []).map((h) => h.trim().toLowerCase())])];
}

function shapeHint(cls: Function, methodName: string): ResultShape | undefined {
  const type: unknown = Reflect.getMetadata('design:returntype', cls.prototype as object, methodName);
  if (type === Promise) return 'promise';
  if (typeof type === 'function' && type.name === 'Observable') return 'observable';
  return undefined;
}

