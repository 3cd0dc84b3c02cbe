import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { CacheMemoizeModuleOptions } from '../types/options';

export const {
  ConfigurableModuleClass: CacheMemoizeConfigurableModule,
  MODULE_OPTIONS_TOKEN: CACHE_MEMOIZE_MODULE_OPTIONS,
  OPTIONS_TYPE: CACHE_MEMOIZE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: CACHE_MEMOIZE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<CacheMemoizeModuleOptions>()
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createCacheMemoizeOptions')
  // Global by default: memoized providers live in every module, and so must the engine.
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
