import type { Memoizer } from '../engine/memoizer';
import { runDetached } from '../engine/reentry';
import { BatchResultError, InvalidArgumentError, InvalidOptionError } from '../errors';
import { allTagKey, composeKey, namespaceTagKey, tagKeysFor } from '../keys/keys';
import type { DirectCacheOptions, DirectExpireOptions, DirectReadOptions } from '../types/direct-options';
import type { CachePolicy, CallScope } from '../types/policy';
import type { StatsCollector } from '../engine/stats';
import { parseDuration } from '../util/duration';
import { unknownKeys } from '../util/nearest';
import { parseMethodOptions, type AnyOptions } from './options-parser';
import { withRegion } from './method-registry';
import type { Regions } from './regions';
import { cacheStateOf, modeOf } from './cache-mode';

/** Where direct keys live: '~' cannot start a method's namespace, so they never meet method keys. */
export const DIRECT_NAMESPACE = '~direct';

/** What direct calls need from the module. */
export interface DirectDefaults {
  prefix: string;
  ttlMs: number;
  regions: Regions;
  stats?: StatsCollector;
  memoizer(name: string | undefined, where: string): Memoizer;
  /** Every store's engine (delete busts a key everywhere). */
  all(): Memoizer[];
}

interface Resolved {
  memoizer: Memoizer;
  policy: CachePolicy;
  /** getOrSetMany's: a key the factory leaves out (undefined) is returned, not stored. */
  many: CachePolicy;
  scope: CallScope | undefined;
}

/**
 * A batch factory's result as values aligned with `keys`: an array of one value per key (else
 * BatchResultError, and nothing is stored), a Map or a record by key (own properties only).
 */
export function alignBatch<T>(
  keys: readonly string[],
  result: readonly T[] | ReadonlyMap<string, T> | Readonly<Record<string, T>>,
  where: string,
): T[] {
  if (Array.isArray(result)) {
    if (result.length !== keys.length)
      throw new BatchResultError(
        `${where}.getOrSetMany: the factory returned ${result.length} values for ${keys.length} keys (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''}); return one per key, in order, or a Map by key.`,
        keys,
      );
    return result as T[];
  }
  if (result instanceof Map) return keys.map((k) => result.get(k) as T);
  if (typeof result === 'object' && result !== null)
    return keys.map((k) => (Object.hasOwn(result, k) ? (result as Record<string, T>)[k] : (undefined as T)));
  throw new BatchResultError(
    `${where}.getOrSetMany: the factory must return an array aligned with the missing keys, a Map or a record by key.`,
    keys,
  );
}

/** Every option a direct call takes: typed against DirectCacheOptions, so the list follows it. */
const DIRECT_OPTIONS: Record<keyof DirectCacheOptions, true> = {
  ttl: true,
  tags: true,
  grace: true,
  staleIfError: true,
  lock: true,
  timeout: true,
  refreshAhead: true,
  cacheIf: true,
  validate: true,
  migrate: true,
  store: true,
  region: true,
};

/** What `peek` tells of an entry. */
export interface PeekResult<T> {
  value: T;
  /** Milliseconds it stays fresh (0 when stale). */
  ttl: number;
  /** Past its ttl, within its grace: a call would get it and refresh it. */
  stale: boolean;
}

/**
 * memoize's and dogpile's direct API over the engine: values under keys the caller chooses, with
 * every policy a decorated method has (single-flight, versions, grace, locks, fail-safe, events
 * and stats under the owner 'CacheService'). Options are parsed once per options object.
 */
export class DirectCache {
  readonly owner: string;
  private readonly where: string;
  private readonly base: string;
  private readonly parsed = new WeakMap<object, Resolved>();
  private plain: Resolved | undefined;

  constructor(
    private readonly defaults: DirectDefaults,
    readonly region: string | undefined,
  ) {
    this.where = region === undefined ? 'CacheService' : `CacheService.region('${region}')`;
    this.owner = region === undefined ? 'CacheService' : `CacheService[${region}]`;
    this.base = `${defaults.prefix}:${DIRECT_NAMESPACE}:`;
    if (region !== undefined) defaults.regions.defaults(region, this.where); // unknown: fails now
  }

  /** The store key of a direct key (for logs, events and InvalidationService.invalidateKeys). */
  keyOf(key: string): string {
    if (typeof key !== 'string' || key.length === 0)
      throw new InvalidArgumentError(`${this.where}: a key must be a non-empty string, got ${JSON.stringify(key)}.`);
    // JSON-quoted, as method arguments are: no key can spell another's lock record (`x:~lock`) or hash (`#...`).
    return composeKey(this.base, JSON.stringify(key));
  }

  getOrSet<T>(key: string, factory: () => T | Promise<T>, options?: DirectCacheOptions<T>): Promise<T> {
    const r = this.resolve(options);
    const storeKey = this.keyOf(key);
    const state = cacheStateOf(); // withCacheMode holds here as for memoized methods
    const mode = state === undefined ? undefined : modeOf(state);
    if (mode === 'bypass') return new Promise<T>((resolve) => resolve(runDetached(factory, this.owner)));
    if (mode === 'refresh') return r.memoizer.refresh(storeKey, factory, r.policy, r.scope) as Promise<T>;
    return r.memoizer.getOrSet(storeKey, factory, r.policy, r.scope) as Promise<T>;
  }

  async set<T>(key: string, value: T, options?: DirectCacheOptions<T>): Promise<void> {
    const r = this.resolve(options);
    await r.memoizer.refresh(this.keyOf(key), () => value, r.policy, r.scope);
  }

  async peek<T>(key: string, options?: DirectReadOptions<T>): Promise<PeekResult<T> | undefined> {
    const { memoizer, policy } = this.resolve(options);
    const found = await memoizer.inspect(this.keyOf(key), undefined, policy);
    if (found.state === 'miss') return undefined;
    const ttl = found.expiresAt === undefined ? 0 : Math.max(0, found.expiresAt - Math.ceil(memoizer.ctx.now()));
    return { value: found.value as T, ttl: found.state === 'fresh' ? ttl : 0, stale: found.state === 'stale' };
  }

  async expire<T>(key: string, freshForMs: number, options?: DirectExpireOptions<T>): Promise<boolean> {
    const r = this.resolve(options);
    return r.memoizer.expire(this.keyOf(key), Math.max(0, freshForMs), r.policy);
  }

  /** Busts the keys in every store (a key set with another `store` option included); durable when it resolves. */
  async delete(keys: readonly string[]): Promise<void> {
    const full = keys.map((k) => this.keyOf(k));
    await Promise.all(this.defaults.all().map((m) => m.invalidateKeys(full)));
  }

  getOrSetMany<T>(
    keys: readonly string[],
    factory: (missing: string[]) => Promise<readonly T[] | ReadonlyMap<string, T> | Readonly<Record<string, T>>>,
    options?: DirectCacheOptions<T>,
  ): Promise<T[]> {
    const r = this.resolve(options);
    const unique = [...new Set(keys)];
    const full = unique.map((k) => this.keyOf(k));
    const load = async (positions: readonly number[]): Promise<T[]> => {
      const missing = positions.map((p) => unique[p]);
      return alignBatch(missing, await factory(missing), this.where);
    };
    const scopes = r.scope === undefined ? undefined : full.map(() => r.scope);
    return r.memoizer.getOrSetMany(full, load, r.many, scopes).then((values) => {
      const byKey = new Map(unique.map((k, i) => [k, values[i]]));
      return keys.map((k) => byKey.get(k) as T);
    });
  }

  /** The engine, policy and scope of these options (parsed once per options object). */
  private resolve<T>(options: DirectCacheOptions<T> | undefined): Resolved {
    if (options === undefined) return (this.plain ??= this.parse({}));
    let r = this.parsed.get(options);
    if (r === undefined) this.parsed.set(options, (r = this.parse(options as unknown as DirectCacheOptions<never>)));
    return r;
  }

  private parse(options: DirectCacheOptions<never>): Resolved {
    if (typeof options !== 'object' || options === null)
      throw new InvalidOptionError(
        `${this.where}: options must be an object such as { ttl: '1h', tags: ['reports'] }.`,
      );
    const where = this.where;
    const [unknown] = unknownKeys(options, DIRECT_OPTIONS);
    if (unknown !== undefined) {
      const { key, near } = unknown;
      throw new InvalidOptionError(
        `${where}: option '${key}' does not apply to a value under a key${near === undefined ? '' : ` (did you mean '${near}'?)`}; ` +
          `the options are ${Object.keys(DIRECT_OPTIONS).join(', ')}.`,
      );
    }
    const { tags, region, ...rest } = options;
    let opts = rest as AnyOptions;
    const regionName = region ?? this.region;
    if (regionName !== undefined) opts = withRegion(this.defaults.regions, { ...opts, region: regionName }, where);
    const { defaults } = this;
    const parsed = parseMethodOptions(opts, {
      owner: this.owner,
      prefix: defaults.prefix,
      ttlMs: defaults.ttlMs,
      counters: defaults.stats?.forOwner(this.owner),
      decorator: where,
    });
    const memoizer = defaults.memoizer(parsed.store, `${where}: option store`);
    const deps = Object.freeze([
      allTagKey(defaults.prefix),
      namespaceTagKey(defaults.prefix, DIRECT_NAMESPACE),
      ...(tags === undefined ? [] : tagKeysFor(defaults.prefix, tags, `${where}: option tags`)),
    ]);
    const policy: CachePolicy = Object.freeze({ ...parsed.policy, deps });
    memoizer.registerLifetime(policy.ttlMs + Math.max(policy.graceMs, policy.staleIfErrorMs ?? 0));
    const ttl = parsed.callbacks.ttl;
    const scope: CallScope | undefined =
      ttl === undefined
        ? undefined
        : { ttlOf: (value) => parseDuration(ttl(value), `${where}: option ttl(result)`, { allowZero: true }) };
    const cacheIf = policy.cacheIf;
    const many: CachePolicy = Object.freeze({
      ...policy,
      cacheIf: (v: unknown) => v !== undefined && (cacheIf === undefined || cacheIf(v)),
    });
    return { memoizer, policy, many, scope };
  }
}
