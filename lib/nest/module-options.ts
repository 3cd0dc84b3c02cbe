import { checkEntryOptions } from '../util/entry-options';
import { createTaggedJsonSerializer } from '../codec/tagged-json';
import { InvalidOptionError, UnknownStoreError } from '../errors';
import { validateSegment } from '../keys/keys';
import { Regions } from '../method/regions';
import { checkRegionValues, HOOKS, refuseMisspeltHooks, type AnyOptions } from '../method/options-parser';
import { memoryStore } from '../stores/memory.store';
import type { CacheMemoizeModuleOptions } from '../types/options';
import type { Serializer } from '../types/serializer';
import type { CacheStore } from '../types/store';
import { parseDuration, TIMER } from '../util/duration';
import { kindOf } from '../util/kind-of';
import { nearest } from '../util/nearest';

/** Module options, checked and resolved once: every error names the option and the fix. */
export interface ResolvedModuleOptions {
  prefix: string;
  ttlMs: number;
  enabled: boolean;
  operationTimeoutMs: number;
  connectTimeoutMs: number;
  stores: ReadonlyMap<string, CacheStore>;
  defaultStore: string | undefined;
  serializer: Serializer;
  privateHeaders: readonly string[];
  varyByHost: boolean;
  exposeKeyHeader: boolean;
  stats: boolean;
  openTelemetry: boolean;
  regions: Regions;
}

/** Marks options given to forRoot() (the others came from forRootAsync()'s factory or class). */
export const OPTIONS_SOURCE = Symbol('CACHE_MEMOIZE:OPTIONS_SOURCE');

/** Headers that always identify a user, plus the configured ones (lower-case, deduplicated). */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key'];

export function resolveModuleOptions(options: CacheMemoizeModuleOptions): ResolvedModuleOptions {
  const source = (options as { [OPTIONS_SOURCE]?: string })[OPTIONS_SOURCE] ?? 'forRootAsync()';
  const where = `CacheMemoizeModule.${source}`;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new InvalidOptionError(
      `${where}: the options must be an object such as { stores: { default: memoryStore() } }, got ${kindOf(options)}` +
        (source === 'forRoot()' ? '.' : ': does the factory return them?'),
    );
  checkKeys(options, where);
  checkCallbacks(options, where);
  if (
    options.stores !== undefined &&
    (typeof options.stores !== 'object' || options.stores === null || Array.isArray(options.stores))
  )
    throw new InvalidOptionError(
      `${where}: stores must be an object naming each store, e.g. { default: memoryStore() }, got ${kindOf(options.stores)}.`,
    );
  const stores = new Map(Object.entries(options.stores ?? { default: memoryStore() }));
  if (stores.size === 0) throw new InvalidOptionError(`${where}: stores must name at least one store.`);
  for (const [name, store] of stores) {
    if (store === null || typeof store !== 'object' || typeof (store as Partial<CacheStore>).getMany !== 'function') {
      throw new InvalidOptionError(
        `${where}: stores.${name} is not a store; use memoryStore(), redisStore() or memcachedStore().`,
      );
    }
  }
  const names = [...stores.keys()];
  const defaultStore =
    options.defaultStore ?? (names.length === 1 ? names[0] : stores.has('default') ? 'default' : undefined);
  if (defaultStore !== undefined && !stores.has(defaultStore)) {
    throw new UnknownStoreError(
      `${where}: defaultStore '${defaultStore}' is not one of the stores (${names.join(', ')}). Set defaultStore to one of them.`,
    );
  }
  if (options.classes !== undefined && options.serializer !== undefined) {
    throw new InvalidOptionError(
      `${where}: classes configures the default codec, but a serializer is given too. Build yours with ` +
        `createTaggedJsonSerializer({ classes }) or drop one of the two options.`,
    );
  }
  const regions = new Regions(options.regions, where);
  for (const name of regions.names) {
    const store = regions.defaults(name, where).store;
    if (store !== undefined && !stores.has(store))
      throw new UnknownStoreError(
        `${where}: regions.${name} (or its parent) names store '${store}', which is not one of the stores (${names.join(', ')}).`,
      );
  }
  // Checked here so a bad secret or compress option names the module option, not a store.
  checkEntryOptions({ secret: options.secret, compress: options.compress }, where);
  const prefix = validateSegment(options.prefix ?? 'cm', 'prefix', where, 64);
  const ttlMs = parseDuration(options.ttl ?? '5m', `${where}: option ttl`);
  // A region's values are checked now, as a decorator's are: not at its first call in production.
  for (const name of regions.names)
    checkRegionValues({ ...regions.defaults(name, where) } as AnyOptions, `${where}: regions.${name}`);
  return {
    prefix,
    ttlMs,
    enabled: options.enabled !== false,
    operationTimeoutMs: parseDuration(options.operationTimeout ?? '500ms', `${where}: option operationTimeout`, TIMER),
    connectTimeoutMs: parseDuration(options.connectTimeout ?? '2s', `${where}: option connectTimeout`, {
      allowZero: true,
      timer: true,
    }),
    stores,
    defaultStore,
    serializer: options.serializer ?? createTaggedJsonSerializer({ classes: options.classes }),
    privateHeaders: privateHeaderSet(options.privateHeaders, where),
    varyByHost: options.varyByHost !== false,
    exposeKeyHeader: options.exposeKeyHeader === true,
    stats: options.stats !== false,
    openTelemetry: options.openTelemetry !== false,
    regions,
  };
}

function privateHeaderSet(extra: readonly string[] | undefined, where: string): readonly string[] {
  if (extra !== undefined && (!Array.isArray(extra) || extra.some((h) => typeof h !== 'string' || h.trim() === ''))) {
    throw new InvalidOptionError(
      `${where}: privateHeaders must be an array of header names, e.g. ['x-session-token'].`,
    );
  }
  return [...new Set([...CREDENTIAL_HEADERS, ...(extra ?? []).map((h) => h.trim().toLowerCase())])];
}

/** Every module option: the compiler keeps this list in step with CacheMemoizeModuleOptions. */
const KNOWN: Record<keyof CacheMemoizeModuleOptions, 'boolean' | 'any'> = {
  stores: 'any',
  defaultStore: 'any',
  ttl: 'any',
  prefix: 'any',
  enabled: 'boolean',
  serializer: 'any',
  secret: 'any',
  compress: 'any',
  classes: 'any',
  privateHeaders: 'any',
  varyByHost: 'boolean',
  operationTimeout: 'any',
  connectTimeout: 'any',
  onEvent: 'any',
  stats: 'boolean',
  hooks: 'any',
  exposeKeyHeader: 'boolean',
  openTelemetry: 'boolean',
  regions: 'any',
};

/**
 * A misspelt option (from plain JavaScript, a config object, a forRootAsync factory, which
 * TypeScript does not check for extra keys) or a switch given as a string ('false' from the
 * environment) would otherwise be ignored, silently.
 */
function checkKeys(options: object, where: string): void {
  for (const [key, value] of Object.entries(options)) {
    const kind = (KNOWN as Record<string, string | undefined>)[key];
    if (kind === undefined) {
      const near = nearest(key, Object.keys(KNOWN));
      throw new InvalidOptionError(
        `${where}: unknown option '${key}'` +
          (key === 'isGlobal'
            ? ': isGlobal goes beside the factory, forRootAsync({ isGlobal: false, useFactory }), not in what it returns.'
            : near !== undefined
              ? `. Did you mean '${near}'?`
              : `. Known options: ${Object.keys(KNOWN).join(', ')}.`),
      );
    }
    if (kind === 'boolean' && value !== undefined && typeof value !== 'boolean')
      throw new InvalidOptionError(
        `${where}: option ${key} must be true or false, got ${typeof value} ${JSON.stringify(value)} ` +
          `(from the environment? compare it: ${key}: process.env.X === 'true').`,
      );
  }
}

/** hooks, onEvent and serializer: a wrong shape would be ignored, or fail at the first call. */
function checkCallbacks(options: CacheMemoizeModuleOptions, where: string): void {
  const { hooks, onEvent, serializer } = options;
  if (hooks !== undefined) {
    if (typeof hooks !== 'object' || hooks === null)
      throw new InvalidOptionError(
        `${where}: option hooks must be an object such as { onHit, onMiss, onStale, onError }.`,
      );
    refuseMisspeltHooks(hooks, where);
    for (const name of HOOKS) {
      const hook: unknown = (hooks as Record<string, unknown>)[name]; // a class's methods too
      if (hook !== undefined && typeof hook !== 'function')
        throw new InvalidOptionError(`${where}: hook ${name} must be a function, got ${kindOf(hook)}.`);
    }
  }
  if (onEvent !== undefined && typeof onEvent !== 'function')
    throw new InvalidOptionError(
      `${where}: option onEvent must be a function of each event, e.g. (event) => logger.debug(event), got ${kindOf(onEvent)}.`,
    );
  const codec = serializer as Partial<Serializer> | null | undefined;
  if (codec !== undefined && (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function'))
    throw new InvalidOptionError(
      `${where}: option serializer must have encode(value) and decode(bytes) (see createTaggedJsonSerializer), got ${kindOf(codec)}.`,
    );
}
