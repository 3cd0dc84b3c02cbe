import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { CacheMemoizeConfigurableModule } from './cache-memoize.module-definition';
import { CacheMemoizeEngine } from './cache-memoize.engine';
import { CacheMemoizeExplorer } from './cache-memoize.explorer';
import { InvalidationService } from './invalidation.service';

/**
 * `CacheMemoizeModule.forRoot(options)` or `.forRootAsync({ imports, inject, useFactory |
 * useClass | useExisting })`. Global unless `isGlobal: false`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [CacheMemoizeEngine, CacheMemoizeExplorer, InvalidationService],
  exports: [CacheMemoizeEngine, InvalidationService],
})
export class CacheMemoizeModule extends CacheMemoizeConfigurableModule {}
