import type { CachePolicy, CallScope } from '../types/policy';
import type { FactoryControl } from './factory-control';

/** How one computed value is stored: its lifetime and the dependencies known only now. */
export interface EntryPlan {
  ttlMs: number;
  graceMs: number;
  /** How long the store keeps it: ttl + grace, or ttl + staleIfError when that is longer. */
  keepMs: number;
  /** Result tags and tags the computation added (dependency keys), if any. */
  extraDeps: readonly string[] | undefined;
}

/**
 * Whether and how to store a computed value: cacheIf, the computation's own say (cacheContext():
 * skip, setTtl, setGrace, addTags), a ttl computed from the result, result tags. Throws when a
 * callback does (the writers then report it and store nothing).
 */
export function planEntry<T>(
  value: T,
  policy: CachePolicy,
  scope: CallScope | undefined,
  control: FactoryControl | undefined,
  /** The computation's `extraDeps` (flights.ts): computed once, shared with its callers' join check. */
  extraDeps: () => readonly string[] | undefined,
): EntryPlan | undefined {
  if (control?.skipped === true) return undefined;
  if (policy.cacheIf !== undefined && !policy.cacheIf(value)) return undefined;
  const ttlMs = control?.ttlMs ?? (scope?.ttlOf === undefined ? policy.ttlMs : scope.ttlOf(value));
  if (ttlMs <= 0) return undefined;
  const graceMs = control?.graceMs ?? policy.graceMs;
  const keepMs = ttlMs + Math.max(graceMs, control?.staleIfErrorMs ?? policy.staleIfErrorMs ?? 0);
  return { ttlMs, graceMs, keepMs, extraDeps: extraDeps() };
}

/** The dependencies known only from a computed value: result tags and tags the computation added. Throws when resultTags does. */
export function extraDepsOf(
  value: unknown,
  scope: CallScope | undefined,
  control: FactoryControl | undefined,
): readonly string[] | undefined {
  const fromResult = scope?.resultDeps?.(value);
  const added = control?.deps;
  const extraDeps =
    added === undefined || added.length === 0
      ? fromResult
      : fromResult === undefined
        ? added
        : [...fromResult, ...added];
  return extraDeps !== undefined && extraDeps.length > 0 ? extraDeps : undefined;
}

/**
 * For the callers that joined a computation: whether they may take its value, when it has
 * dependencies known only from it (else undefined: they may). `check` judges those; a resultTags
 * that throws leaves nothing to judge by, and they run again.
 */
export function joinCheck(
  extraDeps: () => readonly string[] | undefined,
  check: (extra: readonly string[]) => () => boolean | Promise<boolean>,
): (() => boolean | Promise<boolean>) | undefined {
  let extra: readonly string[] | undefined;
  try {
    extra = extraDeps();
  } catch {
    return () => false;
  }
  return extra === undefined ? undefined : check(extra);
}
