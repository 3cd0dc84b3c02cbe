import { pathToFileURL } from 'node:url';

/**
 * Loads an ESM-only package (bentocache is `"type": "module"`) from the benchmarks, which ts-node
 * runs as CommonJS. TypeScript compiles `import(x)` under `"module": "commonjs"` into `require(x)`,
 * and `require()` of an ES module fails on Node before 20.19 / 22.12 (this package supports
 * Node >= 20); a `Function` body is not compiled by TypeScript, so the `import()` in it stays a real
 * dynamic import. The specifier is resolved to a file URL here first, so resolution does not depend
 * on the working directory.
 */
const dynamicImport = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

export async function importEsm<T>(specifier: string): Promise<T> {
  return (await dynamicImport(pathToFileURL(require.resolve(specifier)).href)) as T;
}
