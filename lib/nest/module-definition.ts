import { ConfigurableModuleBuilder } from '@nestjs/common';
import { InvalidOptionError } from '../errors';
import type { CacheMemoizeModuleOptions } from '../types/options';
import { kindOf } from '../util/kind-of';

export const {
  ConfigurableModuleClass: CacheMemoizeConfigurableModule,
  MODULE_OPTIONS_TOKEN: CACHE_MEMOIZE_MODULE_OPTIONS,
  OPTIONS_TYPE: CACHE_MEMOIZE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: CACHE_MEMOIZE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<CacheMemoizeModuleOptions>()
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createCacheMemoizeOptions')
  // Global by default: memoized providers live in every module, and so must the engine.
  .setExtras({ isGlobal: true }, (definition, extras) => {
    // 'false' from the environment would make the module global, silently; undefined (a wrapper
    // passing its own optional flag on) is the default.
    const isGlobal = extras.isGlobal ?? true;
    if (typeof isGlobal !== 'boolean')
      throw new InvalidOptionError(
        `CacheMemoizeModule: isGlobal must be true or false, got ${kindOf(isGlobal)} ` +
          `(from the environment? compare it: isGlobal: process.env.X === 'true').`,
      );
    return { ...definition, global: isGlobal };
  })
  .build();
