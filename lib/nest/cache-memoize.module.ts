import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule, HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { CACHE_HTTP_ADAPTER } from '../constants';
import { MethodRegistry } from '../method/method-registry';
import type { HttpAdapterLike, HttpAdapterRef } from '../types/request';
import { CacheMemoizeEngine } from './cache-memoize.engine';
import { CacheService, regionProviders } from './cache.service';
import { FastifyConditionalGet } from './conditional-get';
import { globalInterceptors } from './global-interceptors';
import { CacheMemoizeExplorer } from './explorer';
import { CacheMemoizeHealthIndicator } from './health.indicator';
import { InvalidationService } from './invalidation.service';
import {
  CACHE_MEMOIZE_ASYNC_OPTIONS_TYPE,
  CACHE_MEMOIZE_MODULE_OPTIONS,
  CACHE_MEMOIZE_OPTIONS_TYPE,
  CacheMemoizeConfigurableModule,
} from './module-definition';
import { OPTIONS_SOURCE } from './module-options';
import { InvalidOptionError } from '../errors';

/**
 * `CacheMemoizeModule.forRoot(options)` or `.forRootAsync({ imports, inject, useFactory |
 * useClass | useExisting })`. Global unless `isGlobal: false`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    CacheMemoizeEngine,
    CacheMemoizeExplorer,
    InvalidationService,
    CacheService,
    CacheMemoizeHealthIndicator,
    FastifyConditionalGet,
    {
      provide: MethodRegistry,
      useFactory: (engine: CacheMemoizeEngine) => engine.registry,
      inject: [CacheMemoizeEngine],
    },
    {
      // The adapter exists once the app does: read it when a request comes, not at injection.
      provide: CACHE_HTTP_ADAPTER,
      useFactory: (host?: HttpAdapterHost, moduleRef?: ModuleRef): HttpAdapterRef => ({
        get adapter() {
          return host?.httpAdapter as HttpAdapterLike | undefined;
        },
        get globalInterceptors() {
          return globalInterceptors(moduleRef);
        },
      }),
      inject: [
        { token: HttpAdapterHost, optional: true },
        { token: ModuleRef, optional: true },
      ],
    },
  ],
  exports: [
    CacheMemoizeEngine,
    InvalidationService,
    CacheService,
    CacheMemoizeHealthIndicator,
    MethodRegistry,
    CACHE_HTTP_ADAPTER,
  ],
})
export class CacheMemoizeModule extends CacheMemoizeConfigurableModule {
  /** Options given directly: an error in one of them names forRoot() (forRootAsync() otherwise). */
  static override forRoot(options: typeof CACHE_MEMOIZE_OPTIONS_TYPE = {}): DynamicModule {
    const module = super.forRoot(options);
    for (const provider of module.providers ?? []) {
      const p = provider as { provide?: unknown; useValue?: object };
      if (p.provide === CACHE_MEMOIZE_MODULE_OPTIONS && p.useValue !== undefined) {
        p.useValue = Object.defineProperty({ ...p.useValue }, OPTIONS_SOURCE, { value: 'forRoot()' });
      }
    }
    return withRegionServices(module);
  }

  static override forRootAsync(options: typeof CACHE_MEMOIZE_ASYNC_OPTIONS_TYPE): DynamicModule {
    const module = super.forRootAsync(options);
    for (const provider of module.providers ?? []) {
      const p = provider as { provide?: unknown; useFactory?: (...args: unknown[]) => unknown };
      const factory = p.useFactory;
      if (p.provide !== CACHE_MEMOIZE_MODULE_OPTIONS || factory === undefined) continue;
      // A factory without its return would reach the engine as "imported without options".
      p.useFactory = async (...args) => {
        const made = await factory(...args);
        if (made === undefined || made === null)
          throw new InvalidOptionError(
            `CacheMemoizeModule.forRootAsync(): the options factory returned ${String(made)}. Return the options ` +
              '(useFactory: (config) => ({ stores: ... })), or from createCacheMemoizeOptions() with useClass/useExisting.',
          );
        return made;
      };
    }
    return withRegionServices(module);
  }
}

/**
 * A CacheService per region some `@InjectCache(name)` asked for. Read when Nest scans the module
 * (getters), not when forRoot() runs: a class declared after the module's file still gets its own.
 */
function withRegionServices(module: DynamicModule): DynamicModule {
  const { providers = [], exports = [] } = module;
  return Object.defineProperties(
    { ...module },
    {
      providers: { enumerable: true, get: () => [...providers, ...regionProviders()] },
      exports: { enumerable: true, get: () => [...exports, ...regionProviders().map((p) => p.provide)] },
    },
  );
}
