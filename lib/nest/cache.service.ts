import { Inject, Injectable, Optional } from '@nestjs/common';
import { runDetached } from '../engine/reentry';
import { InvalidArgumentError } from '../errors';
import { alignBatch, type DirectCache, type PeekResult } from '../method/direct-cache';
import type { DirectCacheOptions, DirectExpireOptions, DirectReadOptions } from '../types/direct-options';
import { parseDuration, type Duration } from '../util/duration';
import { kindOf } from '../util/kind-of';
import { CacheMemoizeEngine } from './cache-memoize.engine';

const TOKEN_PREFIX = 'CACHE_MEMOIZE:CACHE:';

/** Injection token of a region-bound CacheService: `@InjectCache('long')`. */
export function getCacheToken(region?: string): string | typeof CacheService {
  return region === undefined ? CacheService : `${TOKEN_PREFIX}${region}`;
}

/** The region a token injects, when it is one of getCacheToken()'s. */
export function regionOfToken(token: unknown): string | undefined {
  return typeof token === 'string' && token.startsWith(TOKEN_PREFIX) ? token.slice(TOKEN_PREFIX.length) : undefined;
}

/** Regions some `@InjectCache(name)` asked for: the module provides a CacheService for each. */
export const injectedRegions = new Set<string>();

/** The region a CacheService is bound to, when Nest creates one for `@InjectCache(name)`. */
const CACHE_REGION = 'CACHE_MEMOIZE:CACHE_REGION';

/**
 * Injects a CacheService bound to a region (`@InjectCache('long') cache: CacheService`), or the
 * module's own without a name. The module provides one per region named this way; a region the
 * module does not configure fails the bootstrap, naming the class.
 */
export function InjectCache(region?: string): PropertyDecorator & ParameterDecorator {
  const inject = Inject(getCacheToken(region));
  return (target: object, key: string | symbol | undefined, index?: number) => {
    if (region !== undefined) injectedRegions.add(region);
    (inject as (t: object, k: string | symbol | undefined, i?: number) => void)(target, key, index);
  };
}

/** Providers of the region-bound services `@InjectCache(name)` asked for so far (the same object per region). */
export function regionProviders(): RegionProvider[] {
  for (const region of injectedRegions)
    if (!providerOf.has(region))
      providerOf.set(region, {
        provide: getCacheToken(region) as string,
        // Every app of the process gets one (decorators are global); the explorer fails the boot of
        // an app whose classes inject a region it does not configure, naming the class.
        useFactory: (cache: CacheService) => cache.lazyRegion(region),
        inject: [CacheService],
      });
  return [...providerOf.values()];
}

interface RegionProvider {
  provide: string;
  useFactory: (cache: CacheService) => CacheService;
  inject: [typeof CacheService];
}
const providerOf = new Map<string, RegionProvider>();

/**
 * The direct API (memoize's `memo.get(key, func)`, dogpile's `region.get_or_create`): values under
 * keys you choose, for a job, a script, a loop over tenants — with every policy of
 * `@CacheMemoize` (single-flight, versions, grace, locks, fail-safe, events, stats, metrics).
 * Keys live in their own namespace under the module prefix (`<prefix>:~direct:<key>`), never
 * colliding with methods' keys; `InvalidationService` busts them by tag, and by key through
 * `keyOf`. Bound to the module's defaults, or to a region (`region(name)`, `@InjectCache(name)`).
 */
@Injectable()
export class CacheService {
  private core: DirectCache | undefined;
  private readonly regions = new Map<string, CacheService>();

  constructor(
    private readonly engine: CacheMemoizeEngine,
    @Optional() @Inject(CACHE_REGION) private readonly regionName?: string,
  ) {}

  private get direct(): DirectCache {
    return (this.core ??= this.engine.direct(this.regionName));
  }

  /** Bound to a region checked at its first call (the explorer checks injected ones at bootstrap). */
  lazyRegion(name: string): CacheService {
    let found = this.regions.get(name);
    if (found === undefined) this.regions.set(name, (found = new CacheService(this.engine, name)));
    return found;
  }

  /** A CacheService whose calls take the region's defaults (and store). Unknown regions throw. */
  region(name: string): CacheService {
    const found = this.lazyRegion(name);
    void found.direct; // an unknown region fails here, not at the first call
    return found;
  }

  /** The cached value, or `factory()`'s, stored under `key`; concurrent callers share one computation. */
  getOrSet<T>(key: string, factory: () => T | Promise<T>, options?: DirectCacheOptions<T>): Promise<Awaited<T>> {
    try {
      // In a frame of its own: the factory's cacheContext() speaks for nothing instead of throwing.
      if (!this.engine.enabled)
        return Promise.resolve(runDetached(factory, 'CacheService.getOrSet')) as Promise<Awaited<T>>;
      return this.direct.getOrSet(key, factory, options) as Promise<Awaited<T>>;
    } catch (error) {
      return Promise.reject(error); // a bad key or option rejects, as every other failure does
    }
  }

  /** The fresh value under `key`, or undefined (never computes). */
  async get<T = unknown>(key: string, options?: DirectReadOptions<T>): Promise<T | undefined> {
    const found = await this.peek<T>(key, options);
    return found !== undefined && !found.stale ? found.value : undefined;
  }

  /** The entry with its metadata (`ttl`: fresh ms left; `stale`: within grace), or undefined. */
  async peek<T = unknown>(key: string, options?: DirectReadOptions<T>): Promise<PeekResult<T> | undefined> {
    return this.engine.enabled ? this.direct.peek<T>(key, options) : undefined;
  }

  /** Whether a call would get a fresh value under `key`. */
  async has<T = unknown>(key: string, options?: DirectReadOptions<T>): Promise<boolean> {
    const found = await this.peek(key, options);
    return found !== undefined && !found.stale;
  }

  /** Stores a value you already have, as if computed now; resolves once stored. */
  async set<T>(key: string, value: T, options?: DirectCacheOptions<T>): Promise<void> {
    if (this.engine.enabled) await this.direct.set(key, value, options);
  }

  /** Busts the keys (in every store); resolves once durable, like InvalidationService. */
  async delete(...keys: string[]): Promise<void> {
    if (this.engine.enabled) await this.direct.delete(keys);
  }

  /** Milliseconds the entry under `key` stays fresh, or undefined when a call would not hit. */
  async ttl<T = unknown>(key: string, options?: DirectReadOptions<T>): Promise<number | undefined> {
    const found = await this.peek(key, options);
    return found === undefined || found.stale ? undefined : found.ttl;
  }

  /**
   * The entry stays fresh for `duration` from now (not recomputed; 0 ends it). False when there is
   * none or it was invalidated; `{ store }` / `{ region }` for an entry set with one, and the
   * `staleIfError` it was set with (else the region's).
   */
  async expire<T = unknown>(key: string, duration: Duration, options?: DirectExpireOptions<T>): Promise<boolean> {
    const ms = parseDuration(duration, `${this.where}.expire`, { allowZero: true });
    return this.engine.enabled ? this.direct.expire(key, ms, options) : false;
  }

  /** The entry stays fresh until `date`. False when there is none or it was invalidated. */
  async expireAt<T = unknown>(key: string, date: Date | number, options?: DirectExpireOptions<T>): Promise<boolean> {
    const at = date instanceof Date ? date.getTime() : date;
    if (!Number.isFinite(at))
      throw new InvalidArgumentError(
        `${this.where}.expireAt: expected a Date or epoch milliseconds, got ${String(date)}.`,
      );
    return this.engine.enabled ? this.direct.expire(key, at - Date.now(), options) : false;
  }

  /** Fresh values of the keys, in order (undefined where none); read in one round trip. */
  async getMany<T = unknown>(keys: readonly string[], options?: DirectReadOptions<T>): Promise<Array<T | undefined>> {
    return Promise.all(this.keyList(keys, 'getMany').map((k) => this.get<T>(k, options)));
  }

  /** A string would be read letter by letter (and stored so, by getOrSetMany): refused, as every non-array. */
  private keyList(keys: readonly string[], method: string): readonly string[] {
    if (Array.isArray(keys)) return keys;
    throw new InvalidArgumentError(`${this.where}.${method}: expected an array of keys, got ${kindOf(keys)}.`);
  }

  /**
   * The values of the keys, in order; the missing ones are computed together by one
   * `factory(missingKeys)` call returning an array aligned with them, a Map or a record by key.
   */
  getOrSetMany<T>(
    keys: readonly string[],
    factory: (missing: string[]) => Promise<readonly T[] | ReadonlyMap<string, T> | Readonly<Record<string, T>>>,
    options?: DirectCacheOptions<T>,
  ): Promise<T[]> {
    try {
      this.keyList(keys, 'getOrSetMany');
      if (!this.engine.enabled) {
        const unique = [...new Set(keys)];
        return runDetached(() => factory(unique), 'CacheService.getOrSetMany').then((result) => {
          const values = alignBatch(unique, result, this.where);
          const byKey = new Map(unique.map((k, i) => [k, values[i]]));
          return keys.map((k) => byKey.get(k) as T);
        });
      }
      return this.direct.getOrSetMany(keys, factory, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The store key of `key` (for logs and `InvalidationService.invalidateKeys`). */
  keyOf(key: string): string {
    return this.direct.keyOf(key);
  }

  private get where(): string {
    return this.regionName === undefined ? 'CacheService' : `CacheService.region('${this.regionName}')`;
  }
}
