import { CACHE_MEMOIZE_METADATA } from '../constants';
import type { Memoizer } from '../engine/memoizer';
import type { StatsCollector } from '../engine/stats';
import { NamespaceConflictError, UnknownMethodError } from '../errors';
import type { CacheHooks } from '../types/options';
import { parseMethodOptions, type AnyOptions } from './options-parser';
import { ResolvedMethod, type ResultShape } from './resolved-method';

/** What every method inherits from the module, and how to reach its store. */
export interface RegistryDefaults {
  prefix: string;
  ttlMs: number;
  hooks?: CacheHooks;
  stats?: StatsCollector;
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

interface NamespaceClaim {
  cls: Function;
  owner: string;
  kind: 'provider' | 'handler';
  module?: string;
}

/**
 * Every memoized method of the app, resolved once: the explorer registers provider methods and
 * handlers at bootstrap, the interceptor finds handlers here, InvalidationService and handles
 * find methods by class. A namespace belongs to one method of one class.
 */
export class MethodRegistry {
  private readonly methods = new Map<Function, Map<string, ResolvedMethod>>();
  private readonly namespaces = new Map<string, NamespaceClaim[]>();
  private readonly owners = new Map<string, ResolvedMethod>();

  constructor(
    readonly defaults: RegistryDefaults,
    readonly requests: RequestSettings,
  ) {}

  get prefix(): string {
    return this.defaults.prefix;
  }

  /** The resolved method of a class, registered or (for classes not instantiated) from its metadata. */
  method(cls: Function, methodName: string): ResolvedMethod {
    const known = this.methods.get(cls)?.get(methodName);
    if (known !== undefined) return known;
    const fn = (cls.prototype as Record<string, unknown> | undefined)?.[methodName];
    const options =
      typeof fn === 'function'
        ? (Reflect.getMetadata(CACHE_MEMOIZE_METADATA, fn) as AnyOptions | undefined)
        : undefined;
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
    const owner = `${cls.name}.${methodName}`;
    const classOptions = (Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) ?? {}) as AnyOptions;
    const opts: AnyOptions = { ...classOptions, ...methodOptions };
    const { defaults } = this;
    const parsed = parseMethodOptions(opts, {
      owner,
      prefix: defaults.prefix,
      ttlMs: defaults.ttlMs,
      moduleHooks: defaults.hooks,
      counters: defaults.stats?.forOwner(owner),
    });
    const memoizer = defaults.memoizer(parsed.store, `@CacheMemoize on ${owner}: option store`);
    this.claim(
      parsed.namespace,
      { cls, owner, kind: meta.kind ?? 'provider', module: meta.module },
      `@CacheMemoize on ${owner}`,
    );
    const method = new ResolvedMethod({
      owner,
      namespace: parsed.namespace,
      prefix: defaults.prefix,
      keyBase: parsed.keyBase,
      memoizer,
      policy: parsed.policy,
      callbacks: parsed.callbacks,
      hooks: parsed.hooks,
      shapeHint: shapeHint(cls, methodName),
      warn: (message) => defaults.warn(message),
      onHookError: (hook, error) =>
        defaults.error(`${hook} hook of ${owner} threw: ${error instanceof Error ? error.message : String(error)}`),
    });
    let byName = this.methods.get(cls);
    if (byName === undefined) this.methods.set(cls, (byName = new Map()));
    byName.set(methodName, method);
    this.owners.set(owner, method);
    return method;
  }

  /**
   * Two distinct provider classes (even of the same name, in different modules), or two methods,
   * would read and overwrite each other's entries under one namespace. Handler classes may share
   * one, since their keys carry the route.
   */
  private claim(namespace: string, claim: NamespaceClaim, where: string): void {
    const claims = this.namespaces.get(namespace) ?? [];
    const same = (c: NamespaceClaim) => c.cls === claim.cls && c.owner === claim.owner;
    const other = claims.find(
      (c) => !same(c) && !(c.kind === 'handler' && claim.kind === 'handler' && c.cls !== claim.cls),
    );
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
}

function shapeHint(cls: Function, methodName: string): ResultShape | undefined {
  const type: unknown = Reflect.getMetadata('design:returntype', cls.prototype as object, methodName);
  if (type === Promise) return 'promise';
  if (typeof type === 'function' && type.name === 'Observable') return 'observable';
  return undefined;
}
