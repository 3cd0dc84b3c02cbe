import type { CacheMemoizeManyOptions, CacheMemoizeOptions } from '../types/options';
import { unknownKeys } from '../util/nearest';

/** Every decorator option (@CacheMemoize, on methods, handlers and classes, and @CacheMemoizeMany): typed, so the list keeps up. */
const KNOWN: Record<keyof CacheMemoizeOptions | keyof CacheMemoizeManyOptions, true> = {
  ttl: true,
  hooks: true,
  onHit: true,
  onMiss: true,
  onStale: true,
  onError: true,
  key: true,
  instanceKey: true,
  namespace: true,
  tags: true,
  resultTags: true,
  store: true,
  region: true,
  skip: true,
  cacheIf: true,
  version: true,
  grace: true,
  lock: true,
  timeout: true,
  refreshAhead: true,
  staleIfError: true,
  validate: true,
  migrate: true,
  cacheErrors: true,
  storeResult: true,
  etag: true,
  vary: true,
  public: true,
  requestTags: true,
  parentKey: true,
  httpMethods: true,
  result: true,
  cacheMissing: true,
  maxBatch: true,
};

/**
 * What a decorator's options hold that no option is called (a typo from JavaScript, or past a
 * cast), each with the option it most likely meant: said at bootstrap, where it would be ignored.
 */
export function unknownOptions(options: object, where: string): string | undefined {
  const unknown = unknownKeys(options, KNOWN);
  if (unknown.length === 0) return undefined;
  const told = unknown.map(({ key, near }) => (near === undefined ? `'${key}'` : `'${key}' (did you mean '${near}'?)`));
  return `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${told.join(', ')}, ignored.`;
}
