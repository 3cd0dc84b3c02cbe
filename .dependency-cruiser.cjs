// Layer rules of lib/ (docs/architecture.md): value imports flow downward only,
//   nest > decorators > interceptor > method > keys > engine > stores > codec > util,
// types/ is type-only and importable from anywhere, as are errors.ts and constants.ts;
// only nest/ imports @nestjs/core; stores know nothing of entries, versions or keys.
const layers = ['nest', 'decorators', 'interceptor', 'method', 'keys', 'engine', 'stores', 'codec', 'util'];
const above = (i) => layers.slice(0, i);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-value-cycles',
      severity: 'error',
      comment: 'A value-import cycle ties layers together; type-only imports are fine.',
      from: { path: '^lib/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    ...layers.map((layer, i) => ({
      name: `no-upward-from-${layer}`,
      severity: 'error',
      comment: `${layer}/ may import only layers below it (value imports).`,
      from: { path: `^lib/${layer}/` },
      to: { path: `^lib/(${above(i).join('|') || '__none__'})/`, dependencyTypesNot: ['type-only'] },
    })),
    {
      name: 'types-are-type-only',
      severity: 'error',
      comment: 'types/ holds declarations: it imports other modules for their types only.',
      from: { path: '^lib/types/' },
      to: { path: '^lib/', pathNot: '^lib/types/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-nest-imports-nestjs-core',
      severity: 'error',
      comment: 'nest/ is the only layer that imports @nestjs/core; the rest is testable without Nest.',
      from: { path: '^lib/', pathNot: '^lib/nest/' },
      to: { path: '@nestjs/core', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'engine-is-framework-free',
      severity: 'error',
      comment: 'engine/ knows keys, policies and stores, not Nest or rxjs.',
      from: { path: '^lib/engine/' },
      to: { path: '(@nestjs/|rxjs)' },
    },
    {
      name: 'stores-are-dumb',
      severity: 'error',
      comment: 'Stores keep bytes: they know nothing of envelopes, versions, keys or methods.',
      from: { path: '^lib/stores/' },
      to: { path: '^lib/(engine|method|keys|codec|interceptor|decorators|nest)/' },
    },
    {
      name: 'barrel-is-the-only-entry',
      severity: 'error',
      comment: 'Code outside lib/ (sample app, benchmarks) uses the public API, not deep imports.',
      from: { path: '^(sample-app|bench)/' },
      to: { path: '^lib/', pathNot: '^lib/(index|testing/index)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
