import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModuleRef } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { CACHE_EVICT_METADATA, CACHE_MEMOIZE_METADATA, ENGINE_REF, MEMOIZED_WRAPPER } from './constants';
import { CacheMemoizeEngine, readOptions } from './cache-memoize.engine';
import type { MethodImpl } from './core/memoized-method';
import { inheritIdentity } from './core/wrapper';

/**
 * Wraps `@CacheMemoize` provider methods at bootstrap (the `@nestjs/schedule` explorer pattern).
 * The wrapper replaces the method on the singleton instance, so every caller that goes through
 * Nest's DI gets the memoized method; the prototype stays untouched.
 */
@Injectable()
export class CacheMemoizeExplorer implements OnModuleInit {
  private readonly logger = new Logger('CacheMemoize');
  private readonly warnedScoped = new Set<Function>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly engine: CacheMemoizeEngine,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    if (!this.engine.enabled) {
      this.logger.log('disabled (enabled: false): memoized methods run uncached');
      return;
    }
    for (const wrapper of this.discovery.getProviders()) this.explore(wrapper);
    // Handlers are cached by the interceptor; resolving their options now makes a bad option a
    // bootstrap error instead of a request served uncached.
    for (const wrapper of [...this.discovery.getControllers(), ...this.discovery.getProviders()]) this.registerHandlers(wrapper);
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) this.linkEvictions(wrapper);
  }

  /** `@CacheEvict` methods find this app's engine through their instance. */
  private linkEvictions(wrapper: InstanceWrapper): void {
    const instance: unknown = wrapper.instance;
    if (instance === null || typeof instance !== 'object') return;
    const proto = Object.getPrototypeOf(instance) as object | null;
    if (proto === null || proto === Object.prototype) return;
    const evicts = this.scanner
      .getAllMethodNames(proto)
      .some((name) => {
        const fn = (instance as Record<string, unknown>)[name];
        return typeof fn === 'function' && Reflect.getMetadata(CACHE_EVICT_METADATA, fn) !== undefined;
      });
    if (evicts) Object.defineProperty(instance, ENGINE_REF, { value: this.engine, configurable: true });
  }

  private explore(wrapper: InstanceWrapper): void {
    const instance: unknown = wrapper.instance;
    if (instance === null || typeof instance !== 'object') return;
    const proto = Object.getPrototypeOf(instance) as object | null;
    if (proto === null || proto === Object.prototype) return;
    const cls = (instance as { constructor: Function }).constructor;
    const decorated = this.scanner
      .getAllMethodNames(proto)
      .filter((name) => typeof (instance as Record<string, unknown>)[name] === 'function')
      .filter((name) => readOptions((instance as Record<string, Function>)[name]) !== undefined)
      // GraphQL resolvers are providers too, but their interceptor caches them.
      .filter((name) => !isGraphqlHandler((instance as Record<string, Function>)[name]));
    if (decorated.length === 0) return;
    if (!wrapper.isDependencyTreeStatic()) {
      if (!this.warnedScoped.has(cls)) {
        this.warnedScoped.add(cls);
        this.logger.warn(
          `${cls.name} is request- or transient-scoped: @CacheMemoize on ${decorated.join(', ')} is ignored and ` +
            `the methods run uncached. Move the memoized methods to a singleton provider.`,
        );
      }
      return;
    }
    for (const name of decorated) this.wrapMethod(instance as Record<string, unknown>, cls, name);
  }

  /** Controller handlers and GraphQL resolver fields that `@CacheMemoize` (on them or their class) applies to. */
  private registerHandlers(wrapper: InstanceWrapper): void {
    const cls = wrapper.metatype as Function | undefined;
    const proto = (cls as { prototype?: object } | undefined)?.prototype;
    if (typeof cls !== 'function' || proto === undefined || proto === Object.prototype) return;
    const isController = this.discovery.getControllers().includes(wrapper);
    const classOptions = Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) as object | undefined;
    for (const name of this.scanner.getAllMethodNames(proto)) {
      const fn = (proto as Record<string, unknown>)[name];
      if (typeof fn !== 'function') continue;
      const graphql = isGraphqlHandler(fn);
      if (!isController && !graphql) continue;
      if (isController && !isRouteHandler(fn)) continue;
      const options = readOptions(fn) ?? classOptions;
      if (options === undefined) continue;
      this.engine.register(cls, name, options, { kind: 'handler', module: this.moduleName(cls) });
      if (Reflect.getMetadata(RESOLVE_FIELD_METADATA, fn) === true) this.checkFieldResolver(cls, name);
    }
  }

  /**
   * GraphQL runs field resolvers without interceptors unless told otherwise, and then
   * `@CacheMemoize` on one would do nothing: say so at bootstrap.
   */
  private checkFieldResolver(cls: Function, name: string): void {
    let enhancers: unknown;
    try {
      enhancers = (this.moduleRef.get(GRAPHQL_MODULE_OPTIONS, { strict: false }) as { fieldResolverEnhancers?: unknown } | undefined)?.fieldResolverEnhancers;
    } catch {
      enhancers = undefined;
    }
    if (Array.isArray(enhancers) && enhancers.includes('interceptors')) return;
    this.logger.warn(
      `@CacheMemoize on ${cls.name}.${name} (a GraphQL field resolver) does nothing: GraphQL runs field resolvers without ` +
        `interceptors. Add fieldResolverEnhancers: ['interceptors'] to GraphQLModule.forRoot() to cache it.`,
    );
  }

  private moduleName(cls: Function): string | undefined {
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      if (wrapper.metatype === cls) return (wrapper.host as { metatype?: { name?: string } } | undefined)?.metatype?.name;
    }
    return undefined;
  }

  private wrapMethod(instance: Record<string, unknown>, cls: Function, name: string): void {
    const original = instance[name] as MethodImpl & { [MEMOIZED_WRAPPER]?: true };
    if (original[MEMOIZED_WRAPPER]) return; // the same instance listed twice (aliases)
    const method = this.engine.register(cls, name, readOptions(original)!, { kind: 'provider', module: this.moduleName(cls) });
    const wrapped = method.wrap(original) as MethodImpl & { [MEMOIZED_WRAPPER]?: true };
    inheritIdentity(original, wrapped);
    Object.defineProperty(wrapped, MEMOIZED_WRAPPER, { value: true });
    Object.defineProperty(instance, name, { value: wrapped, configurable: true, writable: true, enumerable: false });
  }
}

const RESOLVE_FIELD_METADATA = 'graphql:resolve_property';
const GRAPHQL_MODULE_OPTIONS = 'GqlModuleOptions';

/** A GraphQL query, mutation, subscription or field resolver. */
function isGraphqlHandler(fn: Function): boolean {
  return Reflect.getMetadata('graphql:resolver_type', fn) !== undefined || Reflect.getMetadata(RESOLVE_FIELD_METADATA, fn) === true;
}

/** An HTTP route or a microservice message/event handler. */
function isRouteHandler(fn: Function): boolean {
  return Reflect.getMetadata('path', fn) !== undefined || Reflect.getMetadata('microservices:pattern', fn) !== undefined;
}
