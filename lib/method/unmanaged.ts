import { Logger } from '@nestjs/common';
import { currentControl, runDetached } from '../engine/reentry';
import { disabledAppProvides } from './linked-apps';
import type { MethodImpl, ResolvedMethod, WrapperInfo } from './resolved-method';

/**
 * Memoized methods of classes Nest does not instantiate (entities, value objects, helpers made
 * with `new`). The decorator leaves a dispatcher on the prototype. Provider instances never reach
 * it (the explorer wraps them with the original method); other instances do, and the first call
 * of each method asks the initialized app to resolve it — keyed by class, method, `instanceKey`
 * and arguments — or to say it is a class Nest manages (then it runs as written). The last app
 * initialized in the process binds; before any is, calls run the method itself, with one warning.
 */
type Binder = (cls: Function, name: string) => ResolvedMethod | undefined;

let binder: { bind: Binder; by: object } | undefined;
/** Per class and method: its resolved method, or null when it runs as written. */
const bound = new Map<Function, Map<string, ResolvedMethod | null>>();
let started = false;
const warnedEarly = new Set<string>();
const logger = new Logger('CacheMemoize');
/** Where a dispatcher keeps the method it stands for (the explorer wraps providers with that). */
export const UNMANAGED_ORIGINAL = Symbol('CACHE_MEMOIZE:UNMANAGED_ORIGINAL');

function lookup(cls: Function, name: string): ResolvedMethod | null | undefined {
  let byName = bound.get(cls);
  let found = byName?.get(name);
  if (found !== undefined || binder === undefined) return found;
  found = binder.bind(cls, name) ?? null;
  if (byName === undefined) bound.set(cls, (byName = new Map()));
  byName.set(name, found);
  return found;
}

/** The class whose method an instance runs: its own (a subclass gets entries of its own), else the declaring one. */
function classOf(instance: unknown, declaring: Function): Function {
  const ctor = (instance as { constructor?: unknown } | null | undefined)?.constructor;
  return typeof ctor === 'function' && ctor.prototype instanceof declaring ? ctor : declaring;
}

/** The function the decorator installs in place of `original` on `cls.prototype`. */
export function unmanagedDispatcher(cls: Function, name: string, original: MethodImpl): MethodImpl {
  const dispatch = function memoizedOnPrototype(this: unknown, ...args: unknown[]): unknown {
    const method = lookup(classOf(this, cls), name);
    if (method) return method.call(this, original, args);
    if (!started) warnEarly(`${cls.name}.${name}`);
    return asWritten(this, original, args, `${cls.name}.${name}`);
  };
  Object.defineProperty(dispatch, UNMANAGED_ORIGINAL, { value: original });
  Object.defineProperty(dispatch, UNMANAGED, { value: { cls, name, original } });
  return dispatch;
}

const UNMANAGED = Symbol('CACHE_MEMOIZE:UNMANAGED');

/**
 * What `@CacheMemoizeMany` leaves on the prototype: the method as written, in a frame of its own
 * (the explorer gives provider instances their wrapper, which calls the original on a miss).
 */
export function detachedRunner(cls: Function, name: string, original: MethodImpl): MethodImpl {
  const run = function memoizedManyOnPrototype(this: unknown, ...args: unknown[]): unknown {
    return asWritten(this, original, args, `${cls.name}.${name}`);
  };
  Object.defineProperty(run, UNMANAGED_ORIGINAL, { value: original });
  return run;
}

/**
 * The method as written. Outside any computation (a disabled app, a request-scoped provider), in a
 * frame of its own: its cacheContext() speaks for nothing instead of throwing (new user's trial).
 * Inside one, as it always ran: a decorator stacked above (`@CacheEvict`, a tracing `@Span`) or a
 * subclass's memoized override calling `super` puts the memoizer's wrapper around this call, and
 * its cacheContext() speaks for that entry (review: a detached frame here lost skip() and tags).
 */
function asWritten(self: unknown, original: MethodImpl, args: unknown[], owner: string): unknown {
  if (currentControl() !== undefined) return original.apply(self, args);
  return runDetached(() => original.apply(self, args), owner);
}

/** The method as written, when `fn` is a memoized method of a class a live disabled app provides (linked-apps.ts). */
export function disabledOriginal(fn: unknown, instance: object): MethodImpl | undefined {
  const original = (fn as { [UNMANAGED_ORIGINAL]?: MethodImpl } | undefined)?.[UNMANAGED_ORIGINAL];
  return original !== undefined && disabledAppProvides(instance.constructor) ? original : undefined;
}

/** cacheHandle(instance, name) on a hand-made instance: the method bound for its class, if any. */
export function unmanagedInfo(fn: unknown, instance: object): WrapperInfo | undefined {
  const u = (fn as { [UNMANAGED]?: { cls: Function; name: string; original: MethodImpl } } | undefined)?.[UNMANAGED];
  if (u === undefined) return undefined;
  const method = lookup(classOf(instance, u.cls), u.name);
  return method ? { method, original: u.original } : undefined;
}

/** An app's engine is starting: calls from now on are not "before initialization". */
export function markStarted(): void {
  started = true;
}

/** The app that resolves unmanaged classes from now on (the last one initialized). */
export function setBinder(by: object, bind: Binder): void {
  binder = { bind, by };
  bound.clear();
}

/** An app closes: if it was the binder, calls run the method itself again. */
export function clearBinder(by: object): void {
  if (binder?.by !== by) return;
  binder = undefined;
  bound.clear();
}

function warnEarly(owner: string): void {
  if (warnedEarly.has(owner)) return;
  warnedEarly.add(owner);
  logger.warn(
    `${owner} was called before CacheMemoizeModule was initialized, and ran uncached. ` +
      `Calls are memoized once the app is initialized (await app.init() or app.listen()).`,
  );
}
