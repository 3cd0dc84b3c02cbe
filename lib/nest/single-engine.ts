import type { DiscoveryService, ModulesContainer } from '@nestjs/core';
import type { Module } from '@nestjs/core/injector/module';
import { InvalidOptionError } from '../errors';

/**
 * One app, one cache module. Every explorer sees every provider of the app, so with two
 * `forRoot()` the first wraps all memoized methods in its engine while the other module's
 * InvalidationService and `@CacheEvict` bust the second engine's stores: invalidations that
 * resolve and change nothing. Fails the boot, naming the importing modules, instead.
 */
export function assertSingleCacheModule(
  discovery: DiscoveryService,
  modules: ModulesContainer,
  explorerClass: Function,
): void {
  const hosts = new Set<Module>();
  for (const wrapper of discovery.getProviders()) {
    if (wrapper.metatype === explorerClass && wrapper.host !== undefined) hosts.add(wrapper.host);
  }
  if (hosts.size < 2) return;
  // Global modules are bound into every module's imports: name the modules that declare the import.
  const cacheModules = new Set<unknown>([...hosts].map((h) => h.metatype));
  const importers = [...modules.values()]
    .filter((m) => declaredImports(m.metatype).some((i) => cacheModules.has(i)))
    .map((m) => m.metatype.name);
  const where = importers.length > 0 ? ` in ${[...new Set(importers)].join(', ')}` : '';
  throw new InvalidOptionError(
    `CacheMemoizeModule is imported ${hosts.size} times with its own options (forRoot()/forRootAsync()${where}): ` +
      `one app has one cache engine, and a second one would bust stores the ` +
      `first never reads. Import CacheMemoizeModule.forRoot() once, in the root module (it is global by default); ` +
      `for different stores per feature, declare them in its stores option and pick one with @CacheMemoize({ store }) ` +
      `or a region.`,
  );
}

/** The modules (or dynamic modules' classes) a `@Module({ imports })` class lists. */
function declaredImports(metatype: Function | undefined): unknown[] {
  const imports = (metatype && (Reflect.getMetadata('imports', metatype) as unknown[] | undefined)) ?? [];
  return imports.map((i) => (i !== null && typeof i === 'object' && 'module' in i ? i.module : i));
}
