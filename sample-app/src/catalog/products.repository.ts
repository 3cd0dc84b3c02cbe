import { Injectable, Logger } from '@nestjs/common';
import type { Product } from './product';

/** A deliberately slow data source, standing in for a database or a remote API. */
@Injectable()
export class ProductsRepository {
  static latencyMs = Number(process.env.REPO_LATENCY_MS ?? 150);
  readonly logger = new Logger('ProductsRepository');
  queries = 0;
  private readonly rows = new Map<number, Product>(
    [
      { id: 1, name: 'Sencha', category: 'tea', price: 12 },
      { id: 2, name: 'Assam', category: 'tea', price: 9 },
      { id: 3, name: 'Espresso beans', category: 'coffee', price: 15 },
      { id: 4, name: 'Moka pot', category: 'gear', price: 35 },
    ].map((p) => [p.id, { ...p, updatedAt: new Date(0) }]),
  );

  async findById(id: number): Promise<Product | null> {
    await this.slow(`findById(${id})`);
    const row = this.rows.get(id);
    return row ? { ...row } : null;
  }

  async findByCategory(category: string): Promise<Product[]> {
    await this.slow(`findByCategory(${category})`);
    return [...this.rows.values()].filter((p) => p.category === category).map((p) => ({ ...p }));
  }

  async update(id: number, patch: Partial<Pick<Product, 'name' | 'price'>>): Promise<Product | null> {
    await this.slow(`update(${id})`);
    const row = this.rows.get(id);
    if (!row) return null;
    Object.assign(row, patch, { updatedAt: new Date() });
    return { ...row };
  }

  private async slow(what: string): Promise<void> {
    this.queries++;
    this.logger.debug(`query ${what} (${ProductsRepository.latencyMs} ms)`);
    await new Promise((resolve) => setTimeout(resolve, ProductsRepository.latencyMs));
  }
}
