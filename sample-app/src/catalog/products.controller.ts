import { Body, Controller, Get, NotFoundException, Param, ParseIntPipe, Patch, Query } from '@nestjs/common';
import type { Product } from './product';
import { ProductsService } from './products.service';

@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Get()
  list(@Query('category') category = 'tea'): Promise<Product[]> {
    return this.products.listByCategory(category);
  }

  @Get(':id')
  async get(@Param('id', ParseIntPipe) id: number): Promise<Product & { priceWithTax: number }> {
    const product = await this.products.getProduct(id);
    if (!product) throw new NotFoundException(`product ${id} not found`);
    return { ...product, priceWithTax: this.products.priceWithTax(product.price, 20) };
  }

  @Patch(':id')
  async update(
    @Param('id', ParseIntPipe) id: number,
    @Body() body: { name?: string; price?: number },
  ): Promise<Product> {
    const updated = await this.products.updateProduct(id, body);
    if (!updated) throw new NotFoundException(`product ${id} not found`);
    return updated;
  }
}
