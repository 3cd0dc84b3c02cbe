import type { CachePolicy, CallScope, CheckVerdict, Inspection } from '../types/policy';
import { withDeadline } from '../util/deadline';
import type { BatchLookup, Fallback, Found } from './batch-lookup';
import type { EngineContext } from './context';
import type { EntryWriter } from './entry-writer';
import type { Flights } from './flights';
import { CacheMemoizeTimeoutError } from '../errors';
import { CachedErrorRecord } from '../codec/cached-error-record';
import { withHardTimeout } from './factory-runner';

/** A lookup's answer that carries a value (fresh or stale). */
export type Servable = Extract<Found, { value: unknown }>;

/**
 * An async check that did not answer within the operation timeout: a miss, but not judged, so the
 * entry is neither deleted nor reported invalid (an identity, compared with ===).
 */
const UNSETTLED: CheckVerdict = { ok: false };
/**
 * The verdict of a policy's check; a check that throws says invalid (reported). An async one is
 * bounded by the operation timeout: user code that never settles must not hold the call.
 */
function verdictOf(
  ctx: EngineContext,
  key: string,
  policy: CachePolicy,
  value: unknown,
): CheckVerdict | Promise<CheckVerdict> {
  const failed = (error: unknown, verdict = INVALID): CheckVerdict => {
    ctx.emit({ type: 'error', key, store: ctx.name, owner: policy.owner, operation: 'validate', error });
    return verdict;
  };
  let verdict: CheckVerdict | Promise<CheckVerdict>;
  try {
    verdict = policy.check!(value);
  } catch (error) {
    return failed(error);
  }
  if (!(verdict instanceof Promise)) return verdict;
  const ms = ctx.operationTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let answered = false; // by the timer: a later rejection is not reported again
  const late = new Promise<CheckVerdict>((resolve) => {
    timer = setTimeout(() => {
      answered = true;
      const where = `validate of ${policy.owner || 'a cached value'} (${key})`;
      resolve(
        failed(new CacheMemoizeTimeoutError(`${where} did not settle within ${ms} ms: read as a miss`), UNSETTLED),
      );
    }, ms);
    timer.unref?.();
  });
  const settled = verdict.catch((error: unknown) => (answered ? INVALID : failed(error)));
  return Promise.race([settled, late]).finally(() => clearTimeout(timer));
}

const INVALID: CheckVerdict = { ok: false };

/**
 * A value read from a shared store, checked before it is served (`validate` / `migrate`): an
 * invalid one is deleted and becomes a miss; a migrated one is served and written back in place
 * (same deadlines and versions, so an invalidation still beats it).
 */
export function checkFound(
  ctx: EngineContext,
  writer: EntryWriter,
  key: string,
  policy: CachePolicy,
  found: Servable,
): Found | Promise<Found> {
  const decide = (verdict: CheckVerdict): Found => {
    if (!verdict.ok) {
      if (verdict !== UNSETTLED) {
        ctx.emit({ type: 'invalid', key, store: ctx.name, owner: policy.owner, migrated: false });
        void ctx.background.track(deleteJudged(ctx, key, found));
      }
      return {
        state: 'miss',
        epoch: found.epoch,
        reachable: true,
        deadline: performance.now() + ctx.operationTimeoutMs,
      };
    }
    if (!verdict.migrated) return verdict.value === found.value ? found : { ...found, value: verdict.value };
    ctx.emit({ type: 'invalid', key, store: ctx.name, owner: policy.owner, migrated: true });
    void ctx.background.track(writer.rewrite(key, found.view, verdict.value, policy));
    return { ...found, value: verdict.value };
  };
  const verdict = verdictOf(ctx, key, policy, found.value);
  return verdict instanceof Promise ? verdict.then(decide) : decide(verdict);
}

/**
 * Deletes the entry judged invalid — only those bytes, where the store can compare: a valid entry
 * written since the read (another instance's fresh computation) stays. A store without
 * compare-and-delete deletes whatever is there (a recompute, never a wrong value).
 */
function deleteJudged(ctx: EngineContext, key: string, found: Servable): Promise<unknown> {
  const { store } = ctx;
  const cad = store.compareAndDelete;
  if (cad === undefined) return ctx.guard.run('delete', key, () => store.delete(key), false);
  const read = found.view.whole();
  return ctx.guard.run('compareAndDelete', key, () => cad.call(store, key, read), false);
}

/**
 * stale-if-error: when the call fails (the method threw, or its hard timeout passed) and its lookup
 * found an entry past its grace but within `staleIfError`, that value is served instead (checked
 * like any read value). Told to the caller's report as 'stale' (X-Cache: STALE).
 */
export function servingStaleOnError<T>(
  ctx: EngineContext,
  key: string,
  policy: CachePolicy,
  scope: CallScope | undefined,
  call: Promise<T>,
  /** The entry to fall back on, if it still is valid now (an invalidation during the call wins). */
  fallback: () => { value: unknown } | undefined | Promise<{ value: unknown } | undefined>,
): Promise<T> {
  return call.catch(async (error: unknown) => {
    const stale = await fallback();
    // A cached error (cacheErrors) lives for its own ttl only; a store that keeps it longer
    // (memcached rounds up to seconds) must not make it the fallback of a later failure.
    if (stale === undefined || stale.value instanceof CachedErrorRecord) throw error;
    let value = stale.value;
    if (policy.check !== undefined) {
      const verdict = await verdictOf(ctx, key, policy, value);
      if (!verdict.ok) throw error;
      value = verdict.value;
    }
    ctx.emit({ type: 'stale-if-error', key, store: ctx.name, owner: policy.owner, error });
    scope?.report?.('stale');
    return value as T;
  });
}

/** A lookup whose call may fall back to an entry past its grace (the policy has staleIfError). */
export function lookupOrServeStale<T>(
  ctx: EngineContext,
  lookups: BatchLookup,
  flights: Flights,
  /** Whether an entry's recorded versions are all still current, none failed to invalidate here (undefined: unanswered). */
  current: (deps: readonly string[], tokens: readonly string[]) => Promise<boolean | undefined>,
  key: string,
  policy: CachePolicy,
  scope: CallScope | undefined,
  answer: (found: Found) => T | Promise<T>,
  /** The hard timeout no longer applies (a handler's answer bounds what it runs). */
  released?: () => boolean,
): Promise<T> {
  let fallback: Fallback | undefined;
  let budgetMs = 0;
  const then = (found: Found) => {
    if (found.state === 'miss') {
      fallback = found.fallback;
      budgetMs = found.deadline - performance.now(); // store time left when the method starts
    }
    return answer(found);
  };
  const call = lookups.lookup(key, scope?.etag, then, policy.owner, policy.staleIfErrorMs);
  // Checked within that budget: unanswered, no fallback (the method's error stands).
  const valid = async () => {
    if (fallback === undefined) return undefined;
    const deadline = performance.now() + budgetMs;
    const still = await withDeadline(current(fallback.deps, fallback.tokens), budgetMs);
    if (still !== false) return still === true ? fallback : undefined;
    // Replaced meanwhile (a set or refresh moved the key's version), or invalidated and computed
    // again elsewhere: what the store now holds, if fresh.
    const now = (found: Found) => (found.state === 'fresh' ? { value: found.value } : undefined);
    return withDeadline(lookups.lookup(key, scope?.etag, now, policy.owner), deadline - performance.now());
  };
  return servingStaleOnError(
    ctx,
    key,
    policy,
    scope,
    withHardTimeout(call, policy, key, ctx.background, flights, released, scope?.giveUp),
    valid,
  );
}

/**
 * What a read that never computes (a handle's peek, ttl, explain) reports of a shared-store lookup:
 * judged by the policy's check as a call would judge it (invalid: none; migrated: the upgraded
 * value), but read-only: nothing is deleted or written back.
 */
export function inspected(
  ctx: EngineContext,
  key: string,
  found: Found,
  policy: CachePolicy | undefined,
): Inspection | Promise<Inspection> {
  if (found.state === 'miss') return { state: 'miss' };
  const { state, view } = found;
  const at = (value: unknown): Inspection => ({ state, value, expiresAt: view.freshUntil, source: 'store' });
  if (policy?.check === undefined) return at(found.value);
  const decide = (verdict: CheckVerdict): Inspection => (verdict.ok ? at(verdict.value) : { state: 'miss' });
  const verdict = verdictOf(ctx, key, policy, found.value);
  return verdict instanceof Promise ? verdict.then(decide) : decide(verdict);
}
