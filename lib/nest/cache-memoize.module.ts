import { Module } from '@nestjs/common';
import { DiscoveryModule, HttpAdapterHost } from '@nestjs/core';
import { CACHE_HTTP_ADAPTER } from '../constants';
import { MethodRegistry } from '../method/method-registry';
import type { HttpAdapterLike, HttpAdapterRef } from '../types/request';
import { CacheMemoizeEngine } from './cache-memoize.engine';
import { CacheMemoizeExplorer } from './explorer';
import { CacheMemoizeHealthIndicator } from './health.indicator';
import { InvalidationService } from './invalidation.service';
import { CacheMemoizeConfigurableModule } from './module-definition';

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
    CacheMemoizeHealthIndicator,
    { provide: MethodRegistry, useFactory: (engine: CacheMemoizeEngine) => engine.registry, inject: [CacheMemoizeEngine] },
    {
      // The adapter exists once the app does: read it when a request comes, not at injection.
      provide: CACHE_HTTP_ADAPTER,
      useFactory: (host?: HttpAdapterHost): HttpAdapterRef => ({
        get adapter() {
          return host?.httpAdapter as HttpAdapterLike | undefined;
        },
      }),
      inject: [{ token: HttpAdapterHost, optional: true }],
    },
  ],
  exports: [CacheMemoizeEngine, InvalidationService, CacheMemoizeHealthIndicator, MethodRegistry, CACHE_HTTP_ADAPTER],
})
export class CacheMemoizeModule extends CacheMemoizeConfigurableModule {}
