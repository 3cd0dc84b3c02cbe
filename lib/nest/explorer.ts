import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModuleRef } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { CACHE_MEMOIZE_MANY_METADATA, CACHE_MEMOIZE_METADATA, ENGINE_REF, MEMOIZED_WRAPPER } from '../constants';
import { linkApp, unlinkApp } from '../method/linked-apps';
import { InvalidOptionError, NamespaceConflictError } from '../errors';
import type { ManyOptions } from '../method/method-registry';
import type { AnyOptions } from '../method/options-parser';
import type { MethodImpl, ResolvedMethod } from '../method/resolved-method';
import { inheritIdentity, writesCache } from '../method/wrapper';
import { checkWriter } from './writer-checks';
import { isFieldResolver, isGraphqlHandler, isRouteHandler } from '../method/handler-kind';
import { clearBinder, markStarted, setBinder, UNMANAGED_ORIGINAL } from '../method/unmanaged';
import { CacheMemoizeEngine } from './cache-memoize.engine';
import { InvalidationService } from './invalidation.service';
import { regionOfToken } from './cache.service';

const GRAPHQL_MODULE_OPTIONS = 'GqlModuleOptions';

/**
 * At bootstrap (the `@nestjs/schedule` explorer pattern): wraps `@CacheMemoize` provider methods
 * on their singleton instances (every caller through Nest's DI gets the memoized method; the
 * prototype stays untouched), resolves handlers' options so a bad option fails the boot, and links
 * `@CacheEvict` methods to InvalidationService.
 */
/** Classes some app in this process instantiated (as a provider, controller or resolver). */
const seenClasses = new Set<Function>();
/** Warnings already given (once per process). */
const warned = new Set<string>();

@Injectable()
export class CacheMemoizeExplorer implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('CacheMemoize');
  private readonly warnedScoped = new Set<Function>();
  /** Memoized classes provided request- or transient-scoped, with their memoized methods. */
  private readonly scoped = new Map<Function, string[]>();
  /** Wrapped instances per class: a second one without instanceKey would share the first one's entries. */
  private readonly instances = new Map<Function, { module: string | undefined }>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly engine: CacheMemoizeEngine,
    private readonly invalidation: InvalidationService,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    markStarted();
    const providers = this.discovery.getProviders();
    const controllers = this.discovery.getControllers();
    const all = [...providers, ...controllers];
    linkApp(this.invalidation, new Set(all.flatMap(classesOf)), !this.engine.enabled);
    for (const wrapper of all) this.checkInjectedRegions(wrapper);
    if (!this.engine.enabled) {
      this.logger.log('disabled (enabled: false): memoized methods run uncached');
      return;
    }
    for (const wrapper of providers) this.explore(wrapper);
    this.warnScoped();
    for (const wrapper of controllers) this.registerHandlers(wrapper, true);
    for (const wrapper of providers) this.registerHandlers(wrapper, false);
    for (const wrapper of all) {
      this.linkEvictions(wrapper);
      for (const cls of classesOf(wrapper)) seenClasses.add(cls);
    }
    // Classes with `@CacheMemoize` methods that no app instantiated (entities, helpers made with
    // `new`) are memoized through their prototype: this app resolves each method at its first call
    // (from here on: providers' onModuleInit warm-ups included). A disabled app binds nothing.
    setBinder(this, (cls, name) => this.resolveUnmanaged(cls, name));
  }

  onModuleDestroy(): void {
    unlinkApp(this.invalidation);
    clearBinder(this);
  }

  private resolveUnmanaged(cls: Function, name: string): ResolvedMethod | undefined {
    // Nest creates it (or a subclass of it) here: hand-made instances of a provider run as written.
    if (!this.engine.enabled || [...seenClasses].some((c) => c === cls || c.prototype instanceof cls)) return undefined;
    const fn = (cls.prototype as Record<string, unknown>)[name] as Function | undefined; // inherited too
    const options = typeof fn === 'function' ? readOptions(fn) : undefined;
    if (fn === undefined || options === undefined || isRouteHandler(fn) || isGraphqlHandler(fn)) return undefined;
    const classOptions = Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) as AnyOptions | undefined;
    if ((options.instanceKey ?? classOptions?.instanceKey) === undefined) {
      // Without a key of the instance, two instances would get each other's results: run as written.
      if (!warned.has(`${cls.name}.${name}`)) {
        warned.add(`${cls.name}.${name}`);
        this.logger.warn(
          `${cls.name}.${name} runs uncached: ${cls.name} was not created by Nest at bootstrap (made with new, by a factory, ` +
            `or in a module loaded later by LazyModuleLoader), and without instanceKey its instances ` +
            `would share one another's results. Key it by the instance: @CacheMemoize({ instanceKey: (self: ${cls.name}) => self.id }), ` +
            `or, if the result does not depend on the instance, instanceKey: () => 'shared'.`,
        );
      }
      return undefined;
    }
    let method: ResolvedMethod;
    try {
      method = this.engine.registry.register(cls, name, options, { kind: 'provider' });
    } catch (error) {
      this.logger.error(`${cls.name}.${name} runs uncached: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
    return method;
  }

  /** `@InjectCache(region)` of a region this app does not configure fails the boot, naming the class. */
  private checkInjectedRegions(wrapper: InstanceWrapper): void {
    const cls = wrapper.metatype as Function | undefined;
    if (typeof cls !== 'function') return;
    const params = (Reflect.getMetadata('self:paramtypes', cls) ?? []) as Array<{ param?: unknown }>;
    const props = (Reflect.getMetadata('self:properties_metadata', cls) ?? []) as Array<{ type?: unknown }>;
    for (const token of [...params.map((p) => p.param), ...props.map((p) => p.type)]) {
      const region = regionOfToken(token);
      if (region !== undefined)
        this.engine.registry.defaults.regions.defaults(region, `@InjectCache('${region}') in ${cls.name}`);
    }
  }

  /** `@CacheEvict` methods find this app's InvalidationService through their instance. */
  private linkEvictions(wrapper: InstanceWrapper): void {
    const instance = instanceOf(wrapper);
    if (instance === undefined) return;
    const writers = this.scanner
      .getAllMethodNames(Object.getPrototypeOf(instance) as object)
      .filter((name) => typeof instance[name] === 'function' && writesCache(instance[name] as Function));
    for (const name of writers)
      checkWriter(this.engine, instance[name] as Function, `${(instance.constructor as Function).name}.${name}`);
    if (writers.length > 0)
      Object.defineProperty(instance, ENGINE_REF, { value: this.invalidation, configurable: true });
  }

  private explore(wrapper: InstanceWrapper): void {
    const instance = instanceOf(wrapper);
    if (instance === undefined) return;
    const cls = (instance as { constructor: Function }).constructor;
    const decorated = this.scanner
      .getAllMethodNames(Object.getPrototypeOf(instance) as object)
      .filter((name) => typeof instance[name] === 'function' && isMemoized(instance[name] as Function))
      // GraphQL resolvers are providers too, but their interceptor caches them.
      .filter((name) => !isGraphqlHandler(instance[name] as Function));
    if (decorated.length === 0) return;
    // A transient provider's instances are made per consumer: the one listed here is none of them.
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
      this.scoped.set(cls, decorated); // warned once every provider is explored (it may also be a singleton)
      return;
    }
    const module = moduleOf(wrapper);
    for (const name of decorated) this.wrapMethod(instance, cls, name, module);
    this.instances.set(cls, { module });
  }

  private warnScoped(): void {
    for (const [cls, names] of this.scoped) {
      if (this.warnedScoped.has(cls)) continue;
      this.warnedScoped.add(cls);
      this.logger.warn(
        this.instances.has(cls)
          ? `${cls.name} is also provided request- or transient-scoped: those instances run ${names.join(', ')} ` +
              `uncached (its singleton is memoized).`
          : `${cls.name} is request- or transient-scoped: @CacheMemoize on ${names.join(', ')} is ignored and ` +
              `the methods run uncached. Move the memoized methods to a singleton provider.`,
      );
    }
    this.scoped.clear();
  }

  private wrapMethod(instance: Record<string, unknown>, cls: Function, name: string, module: string | undefined): void {
    const found = instance[name] as MethodImpl & { [MEMOIZED_WRAPPER]?: true; [UNMANAGED_ORIGINAL]?: MethodImpl };
    if (found[MEMOIZED_WRAPPER]) return; // the same instance listed twice (aliases)
    // The decorator's prototype dispatcher (for classes Nest does not create) is skipped here.
    const original = found[UNMANAGED_ORIGINAL] ?? found;
    const many = readManyOptions(original);
    const options = many ?? readOptions(original)!;
    if (many !== undefined && readOptions(original) !== undefined) {
      throw new InvalidOptionError(
        `${cls.name}.${name} has both @CacheMemoize and @CacheMemoizeMany: keep one (@CacheMemoizeMany caches each id of a list).`,
      );
    }
    const seen = this.instances.get(cls);
    const classOptions = Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) as AnyOptions | undefined;
    if (seen !== undefined && (options.instanceKey ?? classOptions?.instanceKey) === undefined) {
      throw new NamespaceConflictError(
        `@CacheMemoize on ${cls.name}.${name}: ${cls.name} has a second instance (${seen.module === module ? `two in ${module ?? 'one module'}` : `in ${seen.module ?? 'a module'} and ${module ?? 'a module'}`}), ` +
          `and both would read and write the same entries. If their results differ (per tenant, per configuration), ` +
          `key them apart with @CacheMemoize({ instanceKey: (self: ${cls.name}) => self.tenantId }) (also on the class); ` +
          `if they are interchangeable, say so with instanceKey: () => 'shared', or provide ${cls.name} from one module only.`,
      );
    }
    const { registry } = this.engine;
    const method =
      many === undefined
        ? registry.register(cls, name, options as AnyOptions, { kind: 'provider', module })
        : registry.registerMany(cls, name, many, { module });
    const wrapped = method.wrap(original) as MethodImpl & { [MEMOIZED_WRAPPER]?: true };
    inheritIdentity(original, wrapped);
    // Decorators written above @CacheMemoize (@OnEvent, @Cron...) put their metadata on the dispatcher.
    if (found !== original) inheritIdentity(found, wrapped);
    Object.defineProperty(wrapped, MEMOIZED_WRAPPER, { value: true });
    Object.defineProperty(instance, name, { value: wrapped, configurable: true, writable: true, enumerable: false });
  }

  /** Controller handlers and GraphQL resolver fields that `@CacheMemoize` (on them or their class) applies to. */
  private registerHandlers(wrapper: InstanceWrapper, isController: boolean): void {
    const cls = wrapper.metatype as Function | undefined;
    const proto = (cls as { prototype?: object } | undefined)?.prototype;
    if (typeof cls !== 'function' || proto === undefined || proto === Object.prototype) return;
    const classOptions = Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) as AnyOptions | undefined;
    for (const name of this.scanner.getAllMethodNames(proto)) {
      const fn = (proto as Record<string, unknown>)[name];
      if (typeof fn !== 'function') continue;
      const graphql = isGraphqlHandler(fn);
      if (isController ? !isRouteHandler(fn) : !graphql) continue;
      if (readManyOptions(fn) !== undefined) {
        throw new InvalidOptionError(
          `@CacheMemoizeMany on ${cls.name}.${name}: a ${graphql ? 'GraphQL resolver' : 'route handler'} is cached per request; ` +
            `put @CacheMemoizeMany on the provider method it calls (e.g. UsersService.getUsers(ids)).`,
        );
      }
      const options = readOptions(fn) ?? classOptions;
      if (options === undefined) continue;
      this.engine.registry.register(cls, name, options, { kind: 'handler', module: moduleOf(wrapper) });
      if (isFieldResolver(fn)) this.checkFieldResolver(cls, name);
    }
  }

  /**
   * GraphQL runs field resolvers without interceptors unless told otherwise, and then
   * `@CacheMemoize` on one would do nothing: say so at bootstrap.
   */
  private checkFieldResolver(cls: Function, name: string): void {
    let enhancers: unknown;
    try {
      enhancers = (
        this.moduleRef.get(GRAPHQL_MODULE_OPTIONS, { strict: false }) as
          { fieldResolverEnhancers?: unknown } | undefined
      )?.fieldResolverEnhancers;
    } catch {
      enhancers = undefined;
    }
    if (Array.isArray(enhancers) && enhancers.includes('interceptors')) return;
    this.logger.warn(
      `@CacheMemoize on ${cls.name}.${name} (a GraphQL field resolver) does nothing: GraphQL runs field resolvers without ` +
        `interceptors. Add fieldResolverEnhancers: ['interceptors'] to GraphQLModule.forRoot() to cache it.`,
    );
  }
}

export function readOptions(fn: Function): AnyOptions | undefined {
  return Reflect.getMetadata(CACHE_MEMOIZE_METADATA, fn) as AnyOptions | undefined;
}

function readManyOptions(fn: Function): ManyOptions | undefined {
  return Reflect.getMetadata(CACHE_MEMOIZE_MANY_METADATA, fn) as ManyOptions | undefined;
}

function isMemoized(fn: Function): boolean {
  return readOptions(fn) !== undefined || readManyOptions(fn) !== undefined;
}

/** The classes a wrapper stands for: its class (any scope) and its instance's. */
function classesOf(wrapper: InstanceWrapper): Function[] {
  const found: Function[] = [];
  if (typeof wrapper.metatype === 'function') found.push(wrapper.metatype);
  const made = (wrapper.instance as object | null | undefined)?.constructor;
  if (typeof made === 'function' && made !== Object) found.push(made);
  return found;
}

function instanceOf(wrapper: InstanceWrapper): Record<string, unknown> | undefined {
  const instance: unknown = wrapper.instance;
  if (instance === null || typeof instance !== 'object') return undefined;
  const proto = Object.getPrototypeOf(instance) as object | null;
  if (proto === null || proto === Object.prototype) return undefined;
  return instance as Record<string, unknown>;
}

function moduleOf(wrapper: InstanceWrapper): string | undefined {
  return (wrapper.host as { metatype?: { name?: string } } | undefined)?.metatype?.name;
}
