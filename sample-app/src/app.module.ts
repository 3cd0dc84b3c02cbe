import { Controller, Get, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OpsController } from './ops.controller';
import { CacheMemoizeModule } from 'nestjs-cache-memoize';
import { CatalogModule } from './catalog/catalog.module';
import { ProductsRepository } from './catalog/products.repository';
import { cacheOptions } from './cache-config';
import { CacheStats } from './cache-stats';

@Controller()
class StatsController {
  constructor(private readonly repo: ProductsRepository) {}

  @Get('stats')
  stats() {
    return { cache: CacheStats.counts, repositoryQueries: this.repo.queries };
  }
}

@Module({
  imports: [
    // Options are read when the app boots (forRootAsync), so CACHE_STORE picks the store.
    CacheMemoizeModule.forRootAsync({ useFactory: () => cacheOptions() }),
    CatalogModule,
    TerminusModule,
  ],
  controllers: [StatsController, OpsController],
})
export class AppModule {}
