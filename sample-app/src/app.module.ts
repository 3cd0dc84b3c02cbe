import { Controller, Get, Module } from '@nestjs/common';
import { CacheMemoizeModule, memoryStore } from 'nestjs-cache-memoize';
import { CatalogModule } from './catalog/catalog.module';
import { ProductsRepository } from './catalog/products.repository';
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
    CacheMemoizeModule.forRoot({
      stores: { default: memoryStore({ maxEntries: 1_000 }) },
      ttl: '5m',
      prefix: 'catalog',
      onEvent: (event) => CacheStats.record(event),
    }),
    CatalogModule,
  ],
  controllers: [StatsController],
})
export class AppModule {}
