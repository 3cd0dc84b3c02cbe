import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { CACHE_EVICT_METADATA, ENGINE_REF, MEMOIZED_WRAPPER } from './constants';
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
  ) {}

  onModuleInit(): void {
    if (!this.engine.enabled) {
      this.logger.log('disabled (enabled: false): memoized methods run uncached');
      return;
    }
    for (const wrapper of this.discovery.getProviders()) this.explore(wrapper);
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
      // GraphQL resolver fields are providers too, but their interceptor caches them.
      .filter((name) => Reflect.getMetadata('graphql:resolver_type', (instance as Record<string, Function>)[name]) === undefined);
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

  private wrapMethod(instance: Record<string, unknown>, cls: Function, name: string): void {
    const original = instance[name] as MethodImpl & { [MEMOIZED_WRAPPER]?: true };
    if (original[MEMOIZED_WRAPPER]) return; // the same instance listed twice (aliases)
    const method = this.engine.register(cls, name, readOptions(original)!);
    const wrapped = method.wrap(original) as MethodImpl & { [MEMOIZED_WRAPPER]?: true };
    inheritIdentity(original, wrapped);
    Object.defineProperty(wrapped, MEMOIZED_WRAPPER, { value: true });
    Object.defineProperty(instance, name, { value: wrapped, configurable: true, writable: true, enumerable: false });
  }
}
