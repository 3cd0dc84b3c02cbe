import { Injectable, NotFoundException } from '@nestjs/common';
import { CacheMemoize, InvalidationService } from 'nestjs-cache-memoize';
import type { Product } from './product';
import { ProductsRepository } from './products.repository';

@Injectable()
export class ProductsService {
  constructor(
    private readonly repo: ProductsRepository,
    private readonly invalidation: InvalidationService,
  ) {}

  /**
   * Cached per id; tagged so an update of this product busts it. An unknown id throws a 404, which
   * is cached too, for 30 s (cacheErrors): scanners asking for ids that do not exist stay off the database.
   */
  @CacheMemoize({
    ttl: '5m',
    tags: (id: number) => [`product:${id}`],
    cacheErrors: { when: [NotFoundException], ttl: '30s' },
  })
  async getProduct(id: number): Promise<Product> {
    const product = await this.repo.findById(id);
    if (!product) throw new NotFoundException(`product ${id} not found`);
    return product;
  }

  /** Cached per category; tagged with every product it contains (known from the result). */
  @CacheMemoize({
    ttl: '1m',
    tags: (category: string) => [`category:${category}`],
    resultTags: (products: Product[]) => products.map((p) => `product:${p.id}`),
  })
  async listByCategory(category: string): Promise<Product[]> {
    return this.repo.findByCategory(category);
  }

  /** Sync methods stay sync on an in-process store (the 'local' one, whatever CACHE_STORE is). */
  @CacheMemoize({ ttl: '1h', store: 'local' })
  priceWithTax(price: number, ratePercent: number): number {
    return Math.round(price * (100 + ratePercent)) / 100;
  }

  async updateProduct(id: number, patch: Partial<Pick<Product, 'name' | 'price'>>): Promise<Product | null> {
    const updated = await this.repo.update(id, patch);
    // Busts getProduct(id) and every category list that contained the product.
    if (updated) await this.invalidation.invalidateTags([`product:${id}`]);
    return updated;
  }
}
