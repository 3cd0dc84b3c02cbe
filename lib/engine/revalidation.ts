import type { CachePolicy, CallScope } from '../types/policy';
import type { EngineContext } from './context';

/**
 * Back-off for background refreshes that failed: within grace the stale value keeps being
 * served, and the key is not retried before its back-off ends (1 s, doubling up to 30 s).
 */
export class Revalidation {
  private readonly backoff = new Map<string, { until: number; delayMs: number }>();

  backingOff(key: string, now: number): boolean {
    const b = this.backoff.get(key);
    return b !== undefined && now < b.until;
  }

  failed(key: string, now: number): void {
    const delayMs = Math.min((this.backoff.get(key)?.delayMs ?? 500) * 2, 30_000);
    if (this.backoff.size > 10_000) this.backoff.clear(); // bounded: forgetting only retries sooner
    this.backoff.set(key, { until: now + delayMs, delayMs });
  }

  /** Records how a background refresh of the key ends. */
  follow<T>(key: string, run: Promise<T>, now: () => number): Promise<T> {
    run.then(
      () => this.succeeded(key),
      () => this.failed(key, now()),
    );
    return run;
  }

  succeeded(key: string): void {
    if (this.backoff.size > 0) this.backoff.delete(key);
  }
}

/**
 * A refresh the caller runs itself (a handler's: it needs this request) and that fails within
 * grace: the caller gets the stale value it read, as a background refresh's callers do, and the
 * key backs off (later callers get stale at once until it ends). An error the caller says is an
 * answer (`staleOnError` false: an HTTP 4xx, the resource gone or access refused) reaches it.
 */
export function refreshedInline<T>(
  ctx: EngineContext,
  key: string,
  policy: CachePolicy,
  scope: CallScope,
  run: Promise<T>,
  stale: T,
): Promise<T> {
  return run.then(
    (value) => (ctx.revalidation.succeeded(key), value),
    (error: unknown) => {
      if (scope.staleOnError?.(error) === false) throw error;
      ctx.revalidation.failed(key, ctx.now());
      scope.report?.('stale');
      ctx.emit({ type: 'stale', key, store: ctx.name, owner: policy.owner });
      return stale;
    },
  );
}
