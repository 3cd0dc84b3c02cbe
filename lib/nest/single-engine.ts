import type { ModulesContainer } from '@nestjs/core';
import { InvalidOptionError } from '../errors';

/** Shared by every copy of this package in the process (a dependency may bring its own). */
const ENGINE_OF_APP = Symbol.for('nestjs-cache-memoize:engine-of-app');

/**
 * One app, one cache engine. Every explorer sees every provider of the app, so with two
 * `forRoot()` the first wraps all memoized methods in its engine while the other module's
 * InvalidationService and `@CacheEvict` bust the second engine's stores: invalidations that
 * resolve and change nothing. Called as each engine is created (lazy-loaded modules included,
 * which run no onModuleInit): the second fails, naming the modules that import the cache module.
 */
export function claimApp(modules: ModulesContainer): void {
  const app = modules as unknown as { [ENGINE_OF_APP]?: true };
  if (app[ENGINE_OF_APP] === undefined) {
    Object.defineProperty(app, ENGINE_OF_APP, { value: true });
    return;
  }
  const importers = [...modules.values()]
    .filter((m) =>
      declaredImports(m.metatype).some((i) => (i as { name?: unknown } | null)?.name === 'CacheMemoizeModule'),
    )
    .map((m) => m.metatype.name);
  const where = importers.length > 0 ? ` (imported in ${[...new Set(importers)].join(', ')})` : '';
  throw new InvalidOptionError(
    `CacheMemoizeModule is configured twice in one app${where}: one app has one cache engine, and a second ` +
      `one would bust stores the first never reads. Import CacheMemoizeModule.forRoot() once, in the root module ` +
      `(it is global by default), and with one copy of nestjs-cache-memoize installed; for different stores per ` +
      `feature, declare them in its stores option and pick one with @CacheMemoize({ store }) or a region.`,
  );
}

/** The modules (or dynamic modules' classes) a `@Module({ imports })` class lists; global bindings are not declared. */
function declaredImports(metatype: Function | undefined): unknown[] {
  const imports = (metatype && (Reflect.getMetadata('imports', metatype) as unknown[] | undefined)) ?? [];
  return imports.map((i) => (i !== null && typeof i === 'object' && 'module' in i ? i.module : i));
}
