import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  new Logger('Sample').log(
    [
      `catalogue listening on ${url} (store: ${process.env.CACHE_STORE ?? 'memory'})`,
      `  curl -i ${url}/products/1         # first call: X-Cache: MISS (~150 ms), then HIT`,
      `  curl -i -H 'Authorization: Bearer alice' ${url}/products/me/recommendations   # per-user entry`,
      `  curl ${url}/products?category=tea`,
      `  curl -X PATCH -H 'content-type: application/json' -d '{"price":10}' ${url}/products/1   # busts tag product:1`,
      `  curl ${url}/stats                 # hits, misses and repository queries`,
      `  curl ${url}/metrics               # Prometheus`,
      `  curl ${url}/health                # terminus: one entry per cache store`,
    ].join('\n'),
  );
}

void bootstrap();
