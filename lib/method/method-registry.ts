import { CACHE_MEMOIZE_MANY_METADATA, CACHE_MEMOIZE_METADATA } from '../constants';
import type { Memoizer } from '../engine/memoizer';
import type { StatsCollector } from '../engine/stats';
import { InvalidOptionError, UnknownMethodError } from '../errors';
import type { CacheHooks, CacheMemoizeManyOptions } from '../types/options';
import { NamespaceClaims, type Kind } from './namespace-claims';
import { unknownOptions } from './option-keys';
import { parseMethodOptions, type AnyOptions } from './options-parser';
import { parseBatchSettings, ResolvedMany } from './resolved-many';
import { ResolvedMethod, type ResultShape } from './resolved-method';
import type { Regions } from './regions';

export type ManyOptions = CacheMemoizeManyOptions<unknown, readonly unknown[], unknown>;
/** Class-level `@CacheMemoize` defaults a batch method inherits: every one that applies per item, as single methods do. */
const BATCH_CLASS_DEFAULTS = [
  'ttl',
  'grace',
  'store',
  'region',
  'hooks',
  'instanceKey',
  'lock',
  'timeout',
  'refreshAhead',
  'version',
  'tags',
  'key',
  'cacheIf',
  'resultTags',
  'staleIfError',
  'validate',
  'migrate',
] as const;

/** What every method inherits from the module, and how to reach its store. */
export interface RegistryDefaults {
  prefix: string;
  ttlMs: number;
  hooks?: CacheHooks;
  stats?: StatsCollector;
  /** The module's regions, resolved. */
  regions: Regions;
  /** The store a method names (or the default one); throws an error naming `where` when unknown. */
  memoizer(name: string | undefined, where: string): Memoizer;
  warn(message: string): void;
  error(message: string): void;
}

/** How the interceptor treats requests (module options). */
export interface RequestSettings {
  enabled: boolean;
  /** Lower-case names of the headers that make a request private (credentials). */
  privateHeaders: readonly string[];
  varyByHost: boolean;
  exposeKeyHeader: boolean;
}

/**
 * Every memoized method of the app, resolved once: the explorer registers provider methods and
 * handlers at bootstrap, the interceptor finds handlers here, InvalidationService and handles
 * find methods by class. A namespace belongs to one method of one class.
 */
export class MethodRegistry {
  private readonly methods = new Map<Function, Map<string, ResolvedMethod>>();
  private readonly namespaces = new NamespaceClaims();
  private readonly owners = new Map<string, ResolvedMethod>();
  private readonly many = new Map<Function, Map<string, ResolvedMany>>();

  constructor(
    readonly defaults: RegistryDefaults,
    readonly requests: RequestSettings,
  ) {}

  get prefix(): string {
    return this.defaults.prefix;
  }

  /** The resolved method of a class, registered or (for classes not instantiated) from its metadata. */
  method(cls: Function, methodName: string): ResolvedMethod {
    const found = this.resolve(cls, methodName);
    if (found instanceof ResolvedMany) {
      throw new UnknownMethodError(
        `${found.owner} is a @CacheMemoizeMany method: its entries are per id; use cacheHandle(instance, '${methodName}').keysOf(ids) or invalidateMethod(${cls.name}, '${methodName}', [ids]).`,
      );
    }
    return found;
  }

  /** Classes with a registered memoized method of this name. */
  classesWith(name: string): Function[] {
    const all = [...this.methods, ...this.many];
    return all.filter(([, m]) => m.has(name)).map(([cls]) => cls);
  }

  /** A memoized method of a class, single or batch (registered, or resolved from its metadata). */
  resolve(cls: Function, methodName: string): ResolvedMethod | ResolvedMany {
    const known = this.methods.get(cls)?.get(methodName) ?? this.many.get(cls)?.get(methodName);
    if (known !== undefined) return known;
    const fn = (cls.prototype as Record<string, unknown> | undefined)?.[methodName];
    const meta = (key: string): unknown => (typeof fn === 'function' ? Reflect.getMetadata(key, fn) : undefined);
    const many = meta(CACHE_MEMOIZE_MANY_METADATA) as ManyOptions | undefined;
    if (many !== undefined) return this.registerMany(cls, methodName, many);
    const options = meta(CACHE_MEMOIZE_METADATA) as AnyOptions | undefined;
    if (options === undefined) {
      throw new UnknownMethodError(
        `${cls.name}.${methodName} is not memoized: decorate it with @CacheMemoize() or check the class and method name.`,
      );
    }
    return this.register(cls, methodName, options);
  }

  byOwner(owner: string): ResolvedMethod | undefined {
    return this.owners.get(owner);
  }

  all(): ResolvedMethod[] {
    return [...this.owners.values()];
  }

  /**
   * Resolves and validates a decorated method; fails with errors that name it. `kind: 'handler'`
   * for controller and resolver handlers, whose keys also carry the route (so two handler classes
   * of one name may share a namespace); `module` names the class's module in conflict errors.
   */
  register(
    cls: Function,
    methodName: string,
    methodOptions: AnyOptions,
    meta: { kind?: 'provider' | 'handler'; module?: string } = {},
  ): ResolvedMethod {
    const known = this.methods.get(cls)?.get(methodName);
    if (known !== undefined) return known;
    const classOptions = (Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) ?? {}) as AnyOptions;
    // Precedence: the method's options, then the method's region, then the class's options, then its region.
    const own =
      methodOptions.region === undefined
        ? methodOptions
        : withRegion(this.defaults.regions, methodOptions, `@CacheMemoize on ${cls.name}.${methodName}`);
    const merged: AnyOptions = { ...classOptions, ...own };
    // A class default of cacheErrors applies where it can: methods returning a Promise they store.
    const takesErrors = merged.storeResult !== false && (shapeHint(cls, methodName) ?? 'promise') === 'promise';
    if (own.cacheErrors === undefined && !takesErrors) delete merged.cacheErrors;
    const method = this.build(cls, methodName, merged, meta.kind ?? 'provider', meta.module);
    let byName = this.methods.get(cls);
    if (byName === undefined) this.methods.set(cls, (byName = new Map()));
    byName.set(methodName, method);
    this.owners.set(method.owner, method);
    return method;
  }

  /** Resolves a `@CacheMemoizeMany` method: each item is what a single call `(id, ...rest)` would be. */
  registerMany(cls: Function, methodName: string, options: ManyOptions, meta: { module?: string } = {}): ResolvedMany {
    const known = this.many.get(cls)?.get(methodName);
    if (known !== undefined) return known;
    const settings = parseBatchSettings(options, `${cls.name}.${methodName}`);
    const returns: unknown = Reflect.getMetadata('design:returntype', cls.prototype as object, methodName);
    if (typeof returns === 'function' && returns !== Promise) {
      throw new InvalidOptionError(
        `@CacheMemoizeMany on ${cls.name}.${methodName}: it returns ${returns.name === 'Observable' ? 'an Observable' : `${returns.name} synchronously`}; ` +
          `a batch method must return a Promise (make it async).`,
      );
    }
    const classOptions = (Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) ?? {}) as AnyOptions;
    const inherited: AnyOptions = {};
    for (const name of BATCH_CLASS_DEFAULTS)
      if (classOptions[name] !== undefined) Object.assign(inherited, { [name]: classOptions[name] });
    const { result: _r, cacheMissing: _c, maxBatch: _m, skip: _s, ...itemOptions } = options;
    const userCacheIf = itemOptions.cacheIf;
    // cacheMissing: false — an item the result left out (undefined) is returned, never stored.
    const cacheIf = settings.cacheMissing
      ? userCacheIf
      : (item: unknown) => item !== undefined && (userCacheIf === undefined || userCacheIf(item));
    const own = (
      itemOptions.region === undefined
        ? itemOptions
        : withRegion(this.defaults.regions, itemOptions as AnyOptions, `@CacheMemoizeMany on ${cls.name}.${methodName}`)
    ) as AnyOptions;
    const opts = { ...inherited, ...own, cacheIf } as AnyOptions;
    const item = this.build(cls, methodName, opts, 'batch', meta.module, '@CacheMemoizeMany');
    const method = new ResolvedMany(item, settings);
    let byName = this.many.get(cls);
    if (byName === undefined) this.many.set(cls, (byName = new Map()));
    byName.set(methodName, method);
    this.owners.set(item.owner, item);
    return method;
  }

  private build(
    cls: Function,
    methodName: string,
    opts: AnyOptions,
    kind: Kind,
    module: string | undefined,
    decorator = '@CacheMemoize',
  ): ResolvedMethod {
    const owner = `${cls.name}.${methodName}`;
    const { defaults } = this;
    const unknown = unknownOptions(opts, `${decorator} on ${owner}`);
    if (unknown !== undefined) defaults.warn(unknown);
    if (opts.region !== undefined) opts = withRegion(defaults.regions, opts, `${decorator} on ${owner}`);
    const parsed = parseMethodOptions(opts, {
      owner,
      prefix: defaults.prefix,
      ttlMs: defaults.ttlMs,
      moduleHooks: defaults.hooks,
      counters: defaults.stats?.forOwner(owner),
      decorator,
    });
    const where = `${decorator} on ${owner}`;
    if (kind === 'handler') {
      const unsupported = (['cacheErrors', 'validate', 'migrate'] as const).find((name) => opts[name] !== undefined);
      if (unsupported !== undefined)
        throw new InvalidOptionError(
          `${where}: option ${unsupported} applies to provider methods; put it on the service method the handler calls.`,
        );
    }
    const memoizer = defaults.memoizer(parsed.store, `${where}: option store`);
    const validates = parsed.policy.check !== undefined;
    const marks = !parsed.policy.storeResult;
    const claim = { cls, owner, kind, module, keyBase: parsed.keyBase, store: memoizer.name, validates, marks };
    this.namespaces.claim(parsed.namespace, claim, where);
    return new ResolvedMethod({
      owner,
      namespace: parsed.namespace,
      prefix: defaults.prefix,
      keyBase: parsed.keyBase,
      memoizer,
      policy: parsed.policy,
      callbacks: parsed.callbacks,
      hooks: parsed.hooks,
      cacheErrors: parsed.cacheErrors,
      shapeHint: kind === 'batch' ? 'promise' : shapeHint(cls, methodName),
      warn: (message) => defaults.warn(message),
      onHookError: (hook, error) =>
        defaults.error(`${hook} hook of ${owner} threw: ${error instanceof Error ? error.message : String(error)}`),
    });
  }
}

function shapeHint(cls: Function, methodName: string): ResultShape | undefined {
  const type: unknown = Reflect.getMetadata('design:returntype', cls.prototype as object, methodName);
  if (type === Promise) return 'promise';
  if (typeof type === 'function' && type.name === 'Observable') return 'observable';
  return undefined;
}

/** A region's defaults under the method's own options (an option the method leaves undefined inherits). */
export function withRegion(regions: Regions, opts: AnyOptions, where: string): AnyOptions {
  const merged: Record<string, unknown> = { ...regions.defaults(opts.region, `${where}: option region`) };
  for (const [name, value] of Object.entries(opts)) if (value !== undefined) merged[name] = value;
  return merged as AnyOptions;
}
