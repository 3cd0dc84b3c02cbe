import type { ModuleRef } from '@nestjs/core';

interface ApplicationConfigLike {
  getGlobalInterceptors?(): unknown[];
  getGlobalRequestInterceptors?(): unknown[];
}

/** Stands for an interceptor whose instance is made per request: never this library's. */
const REQUEST_SCOPED = Object.freeze({ intercept: () => undefined });

/**
 * The app's global interceptors (`useGlobalInterceptors`, APP_INTERCEPTOR), outermost first, as
 * Nest's ApplicationConfig lists them. Nest exposes it to no provider: it is read through the
 * container behind ModuleRef; undefined when that is not there (another Nest), so the caller
 * assumes the worst.
 */
export function globalInterceptors(moduleRef: ModuleRef | undefined): readonly unknown[] | undefined {
  try {
    const config = (moduleRef as unknown as { container?: { applicationConfig?: ApplicationConfigLike } } | undefined)
      ?.container?.applicationConfig;
    const globals = config?.getGlobalInterceptors?.();
    const scoped = config?.getGlobalRequestInterceptors?.();
    if (!Array.isArray(globals) || !Array.isArray(scoped)) return undefined;
    // Request-scoped ones run after the static ones; what they are is not known here.
    return scoped.length > 0 ? [...globals, REQUEST_SCOPED] : globals;
  } catch {
    return undefined;
  }
}
