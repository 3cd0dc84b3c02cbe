import {
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  NotFoundException,
  Param,
  ParseIntPipe,
  Patch,
  Query,
  UseGuards,
} from '@nestjs/common';
import { CacheMemoize, type CacheRequest } from 'nestjs-cache-memoize';
import type { Product } from './product';
import { ProductsService } from './products.service';

/** Demo auth: `Authorization: Bearer <name>` becomes req.user (a real app uses Passport). */
@Injectable()
export class DemoAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | undefined>; user?: { name: string } }>();
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) req.user = { name: auth.slice(7) };
    return true;
  }
}

@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Get()
  list(@Query('category') category = 'tea'): Promise<Product[]> {
    return this.products.listByCategory(category);
  }

  /** Per-user response: `vary` keeps Alice's and Bob's apart (X-Cache shows HIT/MISS). */
  @Get('me/recommendations')
  @UseGuards(DemoAuthGuard)
  @CacheMemoize({
    ttl: '30s',
    vary: (req: CacheRequest) => (req.user as { name?: string } | undefined)?.name ?? 'anonymous',
  })
  async recommendations(): Promise<{ for: string; products: Product[]; at: string }> {
    return { for: 'you', products: await this.products.listByCategory('coffee'), at: new Date().toISOString() };
  }

  /** The HTTP response is cached too (X-Cache header), and busted with the product's tag. */
  @Get(':id')
  @CacheMemoize({ ttl: '30s', requestTags: (req: CacheRequest) => [`product:${String(req.params.id)}`] })
  async get(@Param('id', ParseIntPipe) id: number): Promise<Product & { priceWithTax: number }> {
    const product = await this.products.getProduct(id); // a 404 for an unknown id (cached 30 s)
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
