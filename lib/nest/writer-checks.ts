import {
  CACHE_EVICT_METADATA,
  CACHE_MEMOIZE_MANY_METADATA,
  CACHE_MEMOIZE_METADATA,
  CACHE_PUT_METADATA,
} from '../constants';
import type { CacheEvictOptions } from '../decorators/cache-evict.decorator';
import type { PutTarget } from '../decorators/cache-put.decorator';
import { InvalidOptionError, UnknownMethodError, UnknownStoreError } from '../errors';
import { tagKeysFor, validateSegment } from '../keys/keys';
import { isFamilyRegistered } from '../method/method-family';
import type { AnyOptions } from '../method/options-parser';
import { unknownKeys } from '../util/nearest';
import type { CacheMemoizeEngine } from './cache-memoize.engine';

type EvictSpec = CacheEvictOptions<readonly unknown[], unknown>;

/** Every @CacheEvict option: typed, so the list keeps up. */
const EVICT_OPTIONS: Record<keyof EvictSpec, true> = {
  tags: true,
  resultTags: true,
  keys: true,
  namespaces: true,
  methods: true,
  store: true,
  before: true,
  onFailure: true,
};

/**
 * A `@CacheEvict` or `@CachePut` that cannot work fails the boot, naming the method and the fix
 * (found by review). Found at its call, it failed or busted nothing after the method had written
 * the database, and the old entry went on being served.
 */
export function checkWriter(engine: CacheMemoizeEngine, fn: Function, owner: string): void {
  const evict = Reflect.getMetadata(CACHE_EVICT_METADATA, fn) as EvictSpec | undefined;
  if (evict !== undefined) checkEvict(engine, evict, `@CacheEvict on ${owner}`);
  const put = Reflect.getMetadata(CACHE_PUT_METADATA, fn) as Pick<PutTarget, 'cls' | 'method'> | undefined;
  if (put !== undefined) checkTarget(engine, put.cls, put.method, `@CachePut on ${owner}`, true);
}

function checkEvict(engine: CacheMemoizeEngine, spec: EvictSpec, where: string): void {
  const [unknown] = unknownKeys(spec, EVICT_OPTIONS);
  if (unknown !== undefined)
    throw new InvalidOptionError(
      `${where}: unknown option '${unknown.key}'${unknown.near === undefined ? '' : ` (did you mean '${unknown.near}'?)`}; ` +
        `it would bust nothing. Options: ${Object.keys(EVICT_OPTIONS).join(', ')}.`,
    );
  const stores = engine.options.stores;
  if (spec.store !== undefined && !stores.has(spec.store))
    throw new UnknownStoreError(
      `${where}: option store '${String(spec.store)}' is not configured. Known stores: ${[...stores.keys()].join(', ')}.`,
    );
  // Lists given as such are checked now; those a callback returns, at each call.
  if (Array.isArray(spec.tags)) tagKeysFor(engine.prefix, spec.tags, where);
  if (Array.isArray(spec.namespaces)) for (const ns of spec.namespaces) validateSegment(ns, 'namespace', where, 100);
  if (Array.isArray(spec.keys) && spec.keys.some((k) => typeof k !== 'string' || k === ''))
    throw new InvalidOptionError(
      `${where}: option keys must be a list of non-empty strings (or a function returning one).`,
    );
  for (const call of spec.methods ?? []) checkTarget(engine, call.cls, call.method, where, false);
}

/** The target of an evictCall or a @CachePut: a memoized method (a single one for @CachePut). */
function checkTarget(engine: CacheMemoizeEngine, cls: Function, method: string, where: string, put: boolean): void {
  const fn: unknown = typeof cls === 'function' ? (cls.prototype as Record<string, unknown>)[method] : undefined;
  const meta = (key: string): unknown => (typeof fn === 'function' ? Reflect.getMetadata(key, fn) : undefined);
  const many = meta(CACHE_MEMOIZE_MANY_METADATA) !== undefined;
  const single = meta(CACHE_MEMOIZE_METADATA) as AnyOptions | undefined;
  const name = `${typeof cls === 'function' ? cls.name : String(cls)}.${method}`;
  if (!many && single === undefined && !(typeof cls === 'function' && isFamilyRegistered(engine.registry, cls, method)))
    throw new UnknownMethodError(
      `${where}: ${name} is not a memoized method: decorate it with @CacheMemoize(), or check the class and method name.`,
    );
  if (!put) return;
  if (many)
    throw new InvalidOptionError(
      `${where}: ${name} is a @CacheMemoizeMany method; @CachePut stores the entry of one @CacheMemoize call: ` +
        `target the single-item method (its items are the ones the batch method reads).`,
    );
  const classOptions = Reflect.getMetadata(CACHE_MEMOIZE_METADATA, cls) as AnyOptions | undefined;
  if ((single?.instanceKey ?? classOptions?.instanceKey) !== undefined)
    throw new InvalidOptionError(
      `${where}: ${name} is keyed by its instance (instanceKey), which @CachePut cannot name: ` +
        `refresh it through cacheHandle(instance, '${method}').set(value, ...args), or bust it with @CacheEvict.`,
    );
}
