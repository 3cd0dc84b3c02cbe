import { NO_RESULT, type CacheEvictOptions } from '../decorators/cache-evict.decorator';
import type { Memoizer } from '../engine/memoizer';
import { InvalidArgumentError } from '../errors';
import { familyOf } from '../method/method-family';
import { namespaceTagKey, tagKeysFor, validateSegment } from '../keys/keys';
import { kindOf } from '../util/kind-of';
import type { CacheMemoizeEngine } from './cache-memoize.engine';

/** What a `@CacheEvict` busts: dependency keys (tags, namespaces), exact keys, and method calls' keys per memoizer. */
export interface EvictTargets {
  readonly deps: readonly string[];
  readonly keys: readonly string[];
  readonly calls: ReadonlyArray<{ memoizer: Memoizer; keys: readonly string[] }>;
  /** The first callback that threw or returned what cannot be busted: the others still are. */
  readonly failed?: { error: unknown };
}

/**
 * Runs a bust's callbacks on `args` (and `result`: resultTags, unless NO_RESULT). Each source on
 * its own: one that throws, or returns something other than a list of strings, leaves the others
 * busted and is reported as `failed`, with an error naming the option and the method.
 */
export function evictTargets(
  engine: CacheMemoizeEngine,
  spec: CacheEvictOptions<readonly unknown[], unknown>,
  args: readonly unknown[],
  owner: string,
  result: unknown = NO_RESULT,
): EvictTargets {
  let failed: { error: unknown } | undefined;
  const where = `@CacheEvict on ${owner}`;
  const list = <T>(option: string, source: unknown, ...with_: unknown[]): readonly T[] => {
    try {
      const got: unknown = typeof source === 'function' ? (source as Function)(...with_) : (source ?? []);
      if (!Array.isArray(got))
        throw new InvalidArgumentError(`${where}: option ${option} must give a list of strings, got ${kindOf(got)}.`);
      const odd: unknown = option === 'methods' ? undefined : got.find((item) => typeof item !== 'string');
      if (odd !== undefined || got.includes(undefined))
        throw new InvalidArgumentError(
          `${where}: option ${option} must give a list of strings, got one holding ${odd === undefined ? 'undefined' : `${typeof odd} ${String(odd)}`}.`,
        );
      return got as readonly T[];
    } catch (error) {
      failed ??= { error };
      return [];
    }
  };
  const tags = [
    ...list<string>('tags', spec.tags, ...args),
    ...(result === NO_RESULT ? [] : list<string>('resultTags', spec.resultTags, result, ...args)),
  ];
  const deps = [
    ...tags.flatMap((tag) =>
      list<string>('tags', () => tagKeysFor(engine.prefix, [tag], where, (m) => new InvalidArgumentError(m))),
    ),
    ...list<string>('namespaces', spec.namespaces, ...args).flatMap((ns) =>
      list<string>('namespaces', () => [namespaceTagKey(engine.prefix, validateSegment(ns, 'namespace', where, 100))]),
    ),
  ];
  const calls = (spec.methods ?? []).flatMap((call) =>
    list<{ memoizer: Memoizer; keys: readonly string[] }>('methods', () => {
      const callArgs: unknown = call.args(...(args as never[]));
      // A string would be spread into arguments ('12' as '1', '2'), silently keying another call.
      if (!Array.isArray(callArgs))
        throw new InvalidArgumentError(
          `${where}: evictCall(${call.cls.name}, '${call.method}') args must return the call's argument list ` +
            `(e.g. (id: number) => [id]), got ${kindOf(callArgs)}.`,
        );
      return familyOf(engine.registry, call.cls, call.method).map((m) => ({
        memoizer: m.memoizer,
        keys: m.keysFor(callArgs),
      }));
    }),
  );
  return { deps, keys: list<string>('keys', spec.keys, ...args), calls, failed };
}

/**
 * Both sets of targets: `now` (the arguments as the method left them) and `earlier` (as passed).
 * Only `now`'s failures count: a callback may need what the method fills in (a new row's id).
 */
export function unionOf(now: EvictTargets, earlier: EvictTargets | undefined): EvictTargets {
  if (earlier === undefined) return now;
  const union = (x: readonly string[], y: readonly string[]) => [...new Set([...x, ...y])];
  return {
    deps: union(now.deps, earlier.deps),
    keys: union(now.keys, earlier.keys),
    calls: [...now.calls, ...earlier.calls],
    failed: now.failed,
  };
}
