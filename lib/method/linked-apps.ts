import { InvalidationFailedError } from '../errors';
import type { Evictor } from '../decorators/cache-evict.decorator';
import type { Putter } from '../decorators/cache-put.decorator';

/** What an app's engine (InvalidationService) does for `@CacheEvict` and `@CachePut`. */
export type AppEngine = Evictor &
  Putter & {
    /** Whether the app memoizes `cls.method` (or a subclass's, provided with `useClass`). */
    memoizes(cls: Function, method: string): boolean;
  };

interface LiveApp {
  readonly engine: AppEngine;
  /** The classes the app provides (any scope): its request-scoped instances are its own. */
  readonly classes: ReadonlySet<Function>;
  /** `enabled: false`: its memoized methods run as written, and their handles pass through. */
  readonly disabled: boolean;
}

/** Initialized apps, oldest first. Two apps in one process each keep their own stores. */
const live: LiveApp[] = [];

/** An app's engine is initialized; instances Nest did not link (request scope, `new`) may be its. */
export function linkApp(engine: AppEngine, classes: ReadonlySet<Function>, disabled: boolean): void {
  unlinkApp(engine);
  live.push({ engine, classes, disabled });
}

/** An app closes: its engine no longer serves unlinked instances. */
export function unlinkApp(engine: AppEngine): void {
  const at = live.findIndex((app) => app.engine === engine);
  if (at >= 0) live.splice(at, 1);
}

function provides(app: LiveApp, cls: Function): boolean {
  for (let c: unknown = cls; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c))
    if (app.classes.has(c)) return true;
  return false;
}

/** Whether a live app with `enabled: false` provides `cls` (or a class it extends). */
export function disabledAppProvides(cls: Function): boolean {
  return live.some((app) => app.disabled && provides(app, cls));
}

/**
 * The apps an unlinked instance of `cls` belongs to: every live app that provides the class (a
 * class two apps provide busts in both: busting too much is safe, too little is not), else every
 * live app (made by `new`, by a factory, in a lazy-loaded module: which app it serves is unknown).
 */
function appsOf(cls: Function): readonly LiveApp[] {
  if (live.length <= 1) return live;
  const owners = live.filter((app) => provides(app, cls));
  return owners.length > 0 ? owners : live;
}

/** The evictor of an instance Nest did not link to its app. */
export function unlinkedEvictor(cls: Function): Evictor | undefined {
  const owners = appsOf(cls);
  if (owners.length <= 1) return owners[0]?.engine;
  return {
    // One plan per app: each names its own memoizers.
    plan: (spec, args, owner) => owners.map((app) => app.engine.plan(spec, args, owner)),
    evict: async (spec, args, result, owner, completed, earlier) => {
      const plans = earlier as unknown[] | undefined;
      const outcomes = await Promise.allSettled(
        owners.map((app, i) => app.engine.evict(spec, args, result, owner, completed, plans?.[i])),
      );
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
}

/** The putter for an unlinked instance: the apps that memoize the target method. */
export function unlinkedPutter(target: Function, method: string): Putter | undefined {
  const memoizing = live.filter((app) => app.engine.memoizes(target, method));
  const owners = memoizing.length > 0 ? memoizing : appsOf(target);
  if (owners.length <= 1) return owners[0]?.engine;
  // One run of the method, written through each app's entry (each records its versions first).
  // An app that could not update its entry still lets the others store the result (as evict
  // busts every app); the call then rejects with the first failure.
  return {
    put: async (put, run, owner) => {
      let failed: InvalidationFailedError | undefined;
      // The method ran but this app's entry was not updated: the result goes on to the others.
      const keep = (error: unknown): unknown => {
        if (!(error instanceof InvalidationFailedError) || !error.completed) throw error;
        failed ??= error;
        return error.result;
      };
      const nested = owners.reduce<() => Promise<unknown>>(
        (inner, app) => () => app.engine.put(put, () => inner().catch(keep), owner),
        run,
      );
      const value = await nested().catch(keep);
      if (failed !== undefined) throw failed;
      return value;
    },
  };
}
