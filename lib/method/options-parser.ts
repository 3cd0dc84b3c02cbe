import { InvalidOptionError } from '../errors';
import { allTagKey, keyBase, namespaceSegments, namespaceTagKey, tagKeysFor, validateSegment } from '../keys/keys';
import type { CacheErrorsOptions, CacheHooks, CacheMemoizeOptions } from '../types/options';
import { ErrorCache } from './error-cache';
import { buildCheck } from './validation';
import type { CachePolicy, LockPolicy } from '../types/policy';
import type { Counters } from '../types/stats';
import { parseDuration, TIMER } from '../util/duration';
import { misspells, refuseStray } from '../util/nearest';
import type { MethodCallbacks } from './resolved-method';

export type AnyOptions = CacheMemoizeOptions<readonly unknown[], unknown>;

/** What the decorator's options resolve to, checked: every error names the method, the option and the fix. */
export interface ParsedOptions {
  namespace: string;
  keyBase: string;
  policy: CachePolicy;
  callbacks: MethodCallbacks;
  hooks: CacheHooks | undefined;
  store: string | undefined;
  cacheErrors: CacheErrorsOptions | undefined;
}

export interface ParseContext {
  owner: string;
  prefix: string;
  ttlMs: number;
  moduleHooks?: CacheHooks;
  counters?: Counters;
  /** Names the decorator in errors. Default '@CacheMemoize'. */
  decorator?: string;
}

/** Parses and freezes a method's options, once, at bootstrap (or at the first request of a handler). */
export function parseMethodOptions(opts: AnyOptions, ctx: ParseContext): ParsedOptions {
  const where = `${ctx.decorator ?? '@CacheMemoize'} on ${ctx.owner}`;
  const namespace = validateSegment(opts.namespace ?? ctx.owner, 'namespace', where, 100);
  const version = validateSegment(opts.version ?? 0, 'version', where, 32);
  const ttlFn = typeof opts.ttl === 'function' ? opts.ttl : undefined;
  const ttlMs =
    opts.ttl === undefined || ttlFn !== undefined ? ctx.ttlMs : parseDuration(opts.ttl, `${where}: option ttl`);
  for (const name of ['key', 'skip', 'cacheIf', 'resultTags', 'etag', 'instanceKey', 'parentKey', 'migrate'] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== 'function') {
      throw new InvalidOptionError(`${where}: option ${name} must be a function, got ${typeof opts[name]}.`);
    }
  }
  if (opts.tags !== undefined && typeof opts.tags !== 'function' && !Array.isArray(opts.tags)) {
    throw new InvalidOptionError(`${where}: option tags must be an array of strings or a function returning one.`);
  }
  if (opts.store !== undefined && typeof opts.store !== 'string')
    throw new InvalidOptionError(`${where}: option store must be a store name.`);
  const fixedTags = Array.isArray(opts.tags) ? tagKeysFor(ctx.prefix, opts.tags, where) : [];
  const deps = Object.freeze([
    allTagKey(ctx.prefix),
    ...namespaceSegments(namespace).map((ns) => namespaceTagKey(ctx.prefix, ns)),
    ...fixedTags,
  ]);
  const cacheIf = opts.cacheIf as ((value: unknown) => boolean) | undefined;
  const check = buildCheck(opts.validate, opts.migrate, where);
  if (opts.cacheErrors !== undefined && (typeof opts.cacheErrors !== 'object' || opts.cacheErrors === null))
    throw new InvalidOptionError(`${where}: option cacheErrors must be { when, ttl }.`);
  const policy: CachePolicy = Object.freeze({
    owner: ctx.owner,
    ttlMs,
    deps,
    counters: ctx.counters,
    ...timing(opts, where, ttlFn === undefined ? ttlMs : undefined),
    reveal: ErrorCache.unwrap,
    // A cached error (cacheErrors) is stored whatever cacheIf says of values.
    ...(cacheIf === undefined ? {} : { cacheIf: (value: unknown) => ErrorCache.isError(value) || cacheIf(value) }),
    ...(opts.staleIfError === undefined
      ? {}
      : { staleIfErrorMs: parseDuration(opts.staleIfError, `${where}: option staleIfError`) }),
    // A cached error (cacheErrors) is not a value of the method's shape: never validated or migrated.
    ...(check === undefined
      ? {}
      : {
          check: (v: unknown) => (ErrorCache.isError(v) ? { ok: true as const, value: v, migrated: false } : check(v)),
        }),
  });
  const callbacks: MethodCallbacks = Object.freeze({
    key: opts.key as MethodCallbacks['key'],
    instanceKey: opts.instanceKey as MethodCallbacks['instanceKey'],
    tags: typeof opts.tags === 'function' ? (opts.tags as MethodCallbacks['tags']) : undefined,
    resultTags: opts.resultTags as MethodCallbacks['resultTags'],
    skip: opts.skip as MethodCallbacks['skip'],
    etag: opts.etag as MethodCallbacks['etag'],
    ttl: ttlFn as MethodCallbacks['ttl'],
  });
  return {
    namespace,
    keyBase: keyBase(ctx.prefix, namespace, version),
    policy,
    callbacks,
    hooks: mergeHooks(ctx.moduleHooks, opts, where),
    store: opts.store,
    cacheErrors: opts.cacheErrors,
  };
}

/**
 * A region's values, each checked as a method's are, at bootstrap. Checks between two options
 * apply only where the region sets both: its methods and calls may give the other (a grace for a
 * region's timeout.soft, a longer ttl for its refreshAhead).
 */
export function checkRegionValues(opts: AnyOptions, where: string): void {
  const ttlMs =
    opts.ttl === undefined || typeof opts.ttl === 'function'
      ? undefined
      : parseDuration(opts.ttl, `${where}: option ttl`);
  if (opts.staleIfError !== undefined) parseDuration(opts.staleIfError, `${where}: option staleIfError`);
  if (opts.store !== undefined && typeof opts.store !== 'string')
    throw new InvalidOptionError(`${where}: option store must be a store name.`);
  timing({ ...opts, grace: opts.grace ?? 0 }, where, ttlMs);
}

/** grace, lock, timeout, refreshAhead and storeResult. */
function timing(
  opts: AnyOptions,
  where: string,
  ttlMs: number | undefined,
): Pick<CachePolicy, 'graceMs' | 'lock' | 'softTimeoutMs' | 'hardTimeoutMs' | 'refreshAheadMs' | 'storeResult'> {
  const graceMs =
    opts.grace === undefined ? 0 : parseDuration(opts.grace, `${where}: option grace`, { allowZero: true });
  let lock: LockPolicy | undefined;
  if (opts.lock !== undefined && opts.lock !== false) {
    const spec = opts.lock === true ? {} : opts.lock;
    if (typeof spec !== 'object' || spec === null)
      throw new InvalidOptionError(`${where}: option lock must be true or { timeout, ttl }.`);
    refuseStray(spec, ['timeout', 'ttl'], where, 'lock');
    const waitMs = parseDuration(spec.timeout ?? '5s', `${where}: option lock.timeout`);
    lock = Object.freeze({
      waitMs,
      ttlMs: parseDuration(spec.ttl ?? Math.max(waitMs * 2, 10_000), `${where}: option lock.ttl`),
    });
  }
  let softTimeoutMs: number | undefined;
  let hardTimeoutMs: number | undefined;
  if (opts.timeout !== undefined) {
    if (typeof opts.timeout !== 'object' || opts.timeout === null)
      throw new InvalidOptionError(`${where}: option timeout must be { soft?, hard? }.`);
    refuseStray(opts.timeout, ['soft', 'hard'], where, 'timeout');
    if (opts.timeout.soft !== undefined)
      softTimeoutMs = parseDuration(opts.timeout.soft, `${where}: option timeout.soft`, TIMER);
    if (opts.timeout.hard !== undefined)
      hardTimeoutMs = parseDuration(opts.timeout.hard, `${where}: option timeout.hard`, TIMER);
    if (softTimeoutMs !== undefined && hardTimeoutMs !== undefined && softTimeoutMs >= hardTimeoutMs)
      throw new InvalidOptionError(
        `${where}: timeout.soft (${softTimeoutMs} ms) must be shorter than timeout.hard (${hardTimeoutMs} ms): ` +
          `the hard timeout would fail the call before the soft one could serve the stale value.`,
      );
    if (softTimeoutMs !== undefined && opts.grace === undefined) {
      throw new InvalidOptionError(
        `${where}: timeout.soft serves the stale value, so it needs grace (e.g. grace: '1m').`,
      );
    }
  }
  const refreshAheadMs =
    opts.refreshAhead === undefined ? undefined : parseDuration(opts.refreshAhead, `${where}: option refreshAhead`);
  if (refreshAheadMs !== undefined && ttlMs !== undefined && refreshAheadMs >= ttlMs)
    throw new InvalidOptionError(
      `${where}: refreshAhead (${refreshAheadMs} ms) must be shorter than ttl (${ttlMs} ms): ` +
        `every hit would start a refresh. It is the last part of the ttl in which a hit refreshes (e.g. ttl '1m', refreshAhead '10s').`,
    );
  if (opts.storeResult !== undefined && typeof opts.storeResult !== 'boolean')
    throw new InvalidOptionError(`${where}: option storeResult must be a boolean.`);
  return { graceMs, lock, softTimeoutMs, hardTimeoutMs, refreshAheadMs, storeResult: opts.storeResult !== false };
}

export const HOOKS = ['onHit', 'onMiss', 'onStale', 'onError'] as const;

/** The decorator's hooks (`hooks: {...}`, or the deprecated top-level form) win over the module's, one by one. */
function mergeHooks(module: CacheHooks | undefined, method: AnyOptions, where: string): CacheHooks | undefined {
  if (method.hooks !== undefined && (typeof method.hooks !== 'object' || method.hooks === null)) {
    throw new InvalidOptionError(
      `${where}: option hooks must be an object such as { onHit, onMiss, onStale, onError }.`,
    );
  }
  if (method.hooks !== undefined) refuseMisspeltHooks(method.hooks, where);
  const merged: CacheHooks = {};
  for (const name of HOOKS) {
    const owner = method.hooks?.[name] !== undefined ? method.hooks : method[name] !== undefined ? method : module;
    const hook = owner?.[name];
    if (hook === undefined) continue;
    if (typeof hook !== 'function') throw new InvalidOptionError(`${where}: hook ${name} must be a function.`);
    // Called as a method of its object: a class's `onHit() { this.metrics... }` keeps its this (review).
    merged[name] = hook.bind(owner) as never;
  }
  return Object.keys(merged).length > 0 ? Object.freeze(merged) : undefined;
}

/**
 * A misspelt hook (`onhit`, `onMis`, `onErr`) would never be called. Only a function named like a
 * hook is one: a class instance's other fields (`constructor(private readonly metrics: Metrics)`,
 * a helper `format` or `onInit`) are its own business.
 */
export function refuseMisspeltHooks(hooks: object, where: string): void {
  const misspelt = Object.fromEntries(
    Object.entries(hooks).filter(([k, v]) => typeof v === 'function' && HOOKS.some((h) => misspells(k, h))),
  );
  refuseStray(misspelt, HOOKS, where, 'hooks');
}
