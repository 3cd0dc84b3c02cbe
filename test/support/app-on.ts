import { Test, type TestingModule } from '@nestjs/testing';
import { CacheMemoizeModule, type CacheMemoizeModuleOptions, type CacheStore } from '../../lib';

/** An app instance on `store` under `prefix` with these providers, initialised (as a fleet member would be). */
export async function appOn(
  store: CacheStore,
  prefix: string,
  providers: Function[],
  options: Omit<CacheMemoizeModuleOptions, 'stores' | 'prefix'> = {},
): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ ...options, stores: { default: store }, prefix })],
    providers: providers as never[],
  }).compile();
  await app.init();
  return app;
}
