import { CacheMemoizeTimeoutError } from '../errors';
import type { CachePolicy } from '../types/policy';
import type { Background } from './background';
import type { Flights } from './flights';
import type { EngineContext } from './context';
import { FactoryControl } from './factory-control';
import { computingSync } from './reentry';

/**
 * Runs a computation behind a miss: traced when tracing is on, timed for metrics (`computed`
 * events). Misses only: hits never come here.
 */
export function runFactory<T>(
  ctx: EngineContext,
  key: string,
  policy: CachePolicy,
  factory: () => Promise<T> | T,
  /** What the computation may say about its entry (cacheContext()); none when it is not stored. */
  control?: FactoryControl,
): Promise<T> {
  const started = performance.now();
  let run: Promise<T>;
  // An uncached run (store unreachable, re-entry) still gets a control of its own.
  const own = control ?? new FactoryControl(ctx.prefix, policy.owner);
  try {
    const trace = ctx.traceCompute;
    run = computingSync(
      [key],
      () => (trace === undefined ? Promise.resolve(factory()) : trace(key, policy.owner, async () => factory())),
      own,
    );
  } catch (error) {
    run = Promise.reject(error);
  }
  const computed = (ok: boolean): void => {
    own.closed = true; // what it says from now on would not be read: refused (cacheContext())
    ctx.emit({
      type: 'computed',
      key,
      store: ctx.name,
      owner: policy.owner,
      durationMs: performance.now() - started,
      ok,
    });
  };
  return run.then(
    (value) => {
      computed(true);
      return value;
    },
    (error: unknown) => {
      computed(false);
      throw error;
    },
  );
}

/**
 * Rejects the caller after the hard timeout; the computation goes on and is stored, as work the
 * call no longer waits for (shutdown waits for it, bounded, like a refresh).
 */
export function withHardTimeout<T>(
  promise: Promise<T>,
  policy: CachePolicy,
  key: string,
  background: Background,
  /** The computations of the call's topology: the key's, if it ran that long, stops being joined. */
  flights?: Flights,
  /** True once what the call runs is bounded on its own (a handler's refresh, which falls back). */
  released?: () => boolean,
  /** Told when the call gives up: what it starts later (a late lookup) is never joined. */
  giveUp?: () => void,
): Promise<T> {
  const hard = policy.hardTimeoutMs;
  if (hard === undefined) return promise;
  let timer: NodeJS.Timeout | undefined;
  const calledAt = performance.now();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      if (released?.() === true) return;
      giveUp?.();
      flights?.overdue(key, calledAt, hard);
      void background.track(promise).catch(() => undefined);
      reject(
        new CacheMemoizeTimeoutError(
          `${policy.owner || key} did not finish within its hard timeout of ${hard} ms; it goes on in the background, and its result is cached when it comes (see timeout.hard in the README).`,
        ),
      );
    }, hard);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());

/** The stale value, or the refresh's value if it comes within the soft timeout (never its failure). */
export function staleOrSoon<T>(stale: T, refreshing: Promise<T> | undefined, policy: CachePolicy): T | Promise<T> {
  if (refreshing === undefined) return stale;
  // Handled whatever happens to it: a failed refresh left unheeded would end a Node process.
  const settled = refreshing.catch(() => stale);
  const soft = policy.softTimeoutMs ?? 0;
  if (soft <= 0) return stale;
  return Promise.race([settled, sleep(soft).then(() => stale)]);
}
