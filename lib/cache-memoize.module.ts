import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { CacheMemoizeConfigurableModule } from './cache-memoize.module-definition';
import { CacheMemoizeEngine } from './cache-memoize.engine';
import { CacheMemoizeExplorer } from './cache-memoize.explorer';
import { InvalidationService } from './invalidation.service';
import { CacheMemoizeHealthIndicator } from './observability/health.indicator';

/**
 * `CacheMemoizeModule.forRoot(options)` or `.forRootAsync({ imports, inject, useFactory |
 * useClass | useExisting })`. Global unless `isGlobal: false`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [CacheMemoizeEngine, CacheMemoizeExplorer, InvalidationService, CacheMemoizeHealthIndicator],
  exports: [CacheMemoizeEngine, InvalidationService, CacheMemoizeHealthIndicator],
})
export class CacheMemoizeModule extends CacheMemoizeConfigurableModule {}
