import type { Duration } from '../util/duration';
import type { CacheMemoizeOptions } from './options';

/**
 * Options of CacheService calls (`getOrSet`, `set`, `getOrSetMany`): those of `@CacheMemoize`
 * that apply to a value under a key. Parsed once per options object: hoist constant options
 * out of hot loops.
 */
export interface DirectCacheOptions<T = unknown> extends Pick<
  CacheMemoizeOptions<never[], T>,
  | 'grace'
  | 'staleIfError'
  | 'lock'
  | 'timeout'
  | 'refreshAhead'
  | 'cacheIf'
  | 'validate'
  | 'migrate'
  | 'store'
  | 'region'
> {
  /** Time to live, or from the value: `(report) => (report.final ? '1d' : '1m')` (0: not stored). */
  ttl?: Duration | ((value: Awaited<T>) => Duration);
  /** Tags of the entry: `InvalidationService.invalidateTags` busts it with decorated methods' entries. */
  tags?: readonly string[];
}

/**
 * Options of CacheService reads (get, peek, has, ttl, getMany): the store or region to read, and
 * validate/migrate, judging a shared-store value as getOrSet would (read-only: never deletes or writes).
 */
export type DirectReadOptions<T = unknown> = Pick<DirectCacheOptions<T>, 'validate' | 'migrate' | 'store' | 'region'>;

/**
 * Options of CacheService.expire / expireAt: the store or region the entry lives in, the
 * `staleIfError` it was stored with (the store keeps it that much longer; not recorded in the
 * entry, so the region's applies unless given), and validate/migrate (an entry a read would
 * refuse is none).
 */
export type DirectExpireOptions<T = unknown> = Pick<
  DirectCacheOptions<T>,
  'staleIfError' | 'validate' | 'migrate' | 'store' | 'region'
>;
