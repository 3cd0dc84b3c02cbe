import { InvalidOptionError } from '../errors';
import type { RegionOptions } from '../types/options';

/** Names that would reach Object.prototype when used as a property name. */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Options a region may set: the defaults it gives its methods and direct calls. */
const REGION_OPTIONS = ['ttl', 'grace', 'staleIfError', 'lock', 'timeout', 'refreshAhead', 'store'] as const;
type RegionDefaults = Pick<RegionOptions, (typeof REGION_OPTIONS)[number]>;

/**
 * Named sets of defaults (dogpile's regions), each inheriting from its parent: resolved once at
 * bootstrap into flat defaults. An unknown parent or a cycle fails the boot, naming the region.
 */
export class Regions {
  private readonly resolved = new Map<string, Readonly<RegionDefaults>>();

  constructor(regions: Record<string, RegionOptions> | undefined, where: string) {
    if (regions === undefined) return;
    if (typeof regions !== 'object' || regions === null || Array.isArray(regions))
      throw new InvalidOptionError(`${where}: regions must be an object such as { short: { ttl: '1m' } }.`);
    for (const name of Object.keys(regions)) {
      if (FORBIDDEN.has(name)) throw new InvalidOptionError(`${where}: '${name}' cannot name a region.`);
      this.resolve(regions, name, [], where);
    }
  }

  get names(): string[] {
    return [...this.resolved.keys()];
  }

  has(name: string): boolean {
    return this.resolved.has(name);
  }

  /** The flat defaults of a region; an unknown name fails naming `where` and the known regions. */
  defaults(name: unknown, where: string): Readonly<RegionDefaults> {
    const found = typeof name === 'string' ? this.resolved.get(name) : undefined;
    if (found !== undefined) return found;
    const known = this.names;
    throw new InvalidOptionError(
      `${where}: region ${JSON.stringify(name)} is not configured; ` +
        (known.length === 0
          ? `declare it in CacheMemoizeModule.forRoot({ regions: { ${typeof name === 'string' ? name : 'name'}: { ttl: '1h' } } }).`
          : `known regions: ${known.join(', ')}.`),
    );
  }

  private resolve(
    all: Record<string, RegionOptions>,
    name: string,
    chain: string[],
    where: string,
  ): Readonly<RegionDefaults> {
    const done = this.resolved.get(name);
    if (done !== undefined) return done;
    if (chain.includes(name))
      throw new InvalidOptionError(
        `${where}: regions ${[...chain, name].join(' -> ')} inherit from each other in a cycle.`,
      );
    const own = all[name];
    if (typeof own !== 'object' || own === null)
      throw new InvalidOptionError(`${where}: regions.${name} must be an object of options such as { ttl: '1h' }.`);
    for (const key of Object.keys(own)) {
      if (key !== 'parent' && !(REGION_OPTIONS as readonly string[]).includes(key))
        throw new InvalidOptionError(
          `${where}: regions.${name}.${key} is not a region option (${['parent', ...REGION_OPTIONS].join(', ')}).`,
        );
    }
    let inherited: RegionDefaults = {};
    if (own.parent !== undefined) {
      if (typeof own.parent !== 'string' || !Object.hasOwn(all, own.parent))
        throw new InvalidOptionError(
          `${where}: regions.${name}.parent ${JSON.stringify(own.parent)} is not a configured region (${Object.keys(all).join(', ')}).`,
        );
      inherited = this.resolve(all, own.parent, [...chain, name], where);
    }
    const flat: RegionDefaults = { ...inherited };
    for (const key of REGION_OPTIONS) if (own[key] !== undefined) Object.assign(flat, { [key]: own[key] });
    const frozen = Object.freeze(flat);
    this.resolved.set(name, frozen);
    return frozen;
  }
}

/**
 * Regions from a flat configuration object, as `@nestjs/config` or env files give them
 * (dogpile's `configure_from_config`): `{ 'long.ttl': '1h', 'long.parent': 'short' }`, optionally
 * under a key prefix (`'cache.regions.'`), or already nested (`{ long: { ttl: '1h' } }`). Values
 * may be strings: 'true'/'false' for lock, numbers of milliseconds.
 */
export function regionsFromConfig(config: unknown, prefix = ''): Record<string, RegionOptions> {
  const where = 'regionsFromConfig()';
  if (typeof config !== 'object' || config === null)
    throw new InvalidOptionError(
      `${where}: expected the configuration object, got ${config === null ? 'null' : typeof config}.`,
    );
  const out = Object.create(null) as Record<string, Record<string, unknown>>;
  for (const [rawKey, value] of Object.entries(config as Record<string, unknown>)) {
    if (!rawKey.startsWith(prefix)) continue;
    const key = rawKey.slice(prefix.length);
    if (typeof value === 'object' && value !== null && !key.includes('.')) {
      for (const [option, v] of Object.entries(value as Record<string, unknown>)) set(out, key, option, v, where);
      continue;
    }
    const [region, path] = splitFlat(key);
    if (region === '')
      throw new InvalidOptionError(`${where}: '${rawKey}' is not '<region>.<option>' (e.g. 'long.ttl').`);
    const [option, sub] = path;
    if (sub === undefined) {
      set(out, region, option, value, where);
      continue;
    }
    const current = out[region]?.[option]; // 'long.lock.ttl' after 'long.lock.timeout' (or 'long.lock': 'true')
    if (current === false) continue; // 'long.lock': 'false' wins over a default 'long.lock.ttl'
    const parts = typeof current === 'object' && current !== null ? current : {};
    set(out, region, option, { ...parts, [sub]: flatValue(value) }, where);
  }
  return out as Record<string, RegionOptions>;
}

/** Options with parts a flat key may set one by one: 'long.timeout.hard', 'long.lock.ttl'. */
const NESTED: Record<string, readonly string[]> = { timeout: ['soft', 'hard'], lock: ['timeout', 'ttl'] };

/** 'a.b.timeout.hard' -> ['a.b', ['timeout', 'hard']]: the first split whose rest is an option (or an option's part). */
function splitFlat(key: string): [string, string[]] {
  const parts = key.split('.');
  const isOption = (p: string) => p === 'parent' || (REGION_OPTIONS as readonly string[]).includes(p);
  for (let i = 1; i < parts.length; i++) {
    const rest = parts.slice(i);
    if ((rest.length === 1 && isOption(rest[0])) || (rest.length === 2 && NESTED[rest[0]]?.includes(rest[1])))
      return [parts.slice(0, i).join('.'), rest];
  }
  const dot = key.lastIndexOf('.');
  return dot <= 0 ? ['', []] : [key.slice(0, dot), [key.slice(dot + 1)]];
}

const flatValue = (value: unknown) => (typeof value === 'string' ? value.trim() : value);

function set(
  out: Record<string, Record<string, unknown>>,
  region: string,
  option: string,
  value: unknown,
  where: string,
) {
  if (FORBIDDEN.has(region))
    throw new InvalidOptionError(`${where}: '${region}' cannot name a region (reserved by JavaScript objects).`);
  if (option !== 'parent' && !(REGION_OPTIONS as readonly string[]).includes(option))
    throw new InvalidOptionError(
      `${where}: '${region}.${option}' is not a region option (${['parent', ...REGION_OPTIONS].join(', ')}).`,
    );
  const text = flatValue(value);
  const parsed = option === 'lock' && (text === 'true' || text === 'false') ? text === 'true' : text;
  (out[region] ??= {})[option] = parsed;
}
