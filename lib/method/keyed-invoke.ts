import { types } from 'node:util';
import { currentControl } from '../engine/reentry';
import { isObservable } from 'rxjs';
import { isThenable } from './result-shape';

type KeyedMethod = { readonly owner: string; warnOnce(id: string, message: string): void };

/**
 * The method's computation, checked to run on the arguments its key was built from. On a shared
 * store it starts after the lookup, not at the call: an object the caller changed meanwhile
 * (`q.page = n` in a loop) was read by the method in its later state, and that result was stored
 * under the first state's key for the ttl (new user's trial: pages 1 to 3 all came back as page 3,
 * and a later caller of page 1 got page 3 too). When the arguments no longer encode as keyed, the
 * result is returned but not stored, and the method is named once. One encoding more per miss;
 * nothing allocated on a hit (the closure that calls this is the one the call needed anyway).
 */
export function checkKeyed(method: KeyedMethod, unchanged: () => boolean): void {
  let same: boolean;
  try {
    same = unchanged();
  } catch {
    same = false; // no longer encodable: changed
  }
  if (same) return;
  const control = currentControl();
  if (control !== undefined) control.skipped = control.argsChanged = true;
  method.warnOnce(
    'args-changed',
    `${method.owner}: an argument changed between the call and the computation (an object the caller, ` +
      `or another call it was also passed to, changed meanwhile: q.page = n in a loop before awaiting), so ` +
      `the method ran on other arguments than its key says and its result is not stored. Pass each call its own object.`,
  );
}

/**
 * Runs the method on its arguments. A refresh whose caller went on (grace, refreshAhead: it got the
 * stale value) runs while that caller may reuse its objects for its next call, so a method reading
 * them after its first await read the next call's (review of 217db0a: page 2 stored under page 1's
 * key, 24 of 30 reads). It runs on a copy when they are plain data that encodes as keyed; else on
 * the caller's own, encoded again when the method settles and compared with their encoding once its
 * synchronous part ran (a method may normalise its own argument first), not stored if they changed.
 */
export function applyKeyed(
  method: KeyedMethod,
  args: readonly unknown[],
  /** How the key encodes arguments, and what it encoded these as (asked only for a background refresh). */
  encode: (args: readonly unknown[]) => string,
  keyed: () => string,
  run: (args: readonly unknown[]) => unknown,
): unknown {
  const control = currentControl();
  if (control?.background !== true) return run(args);
  const copy = plainCopy(args);
  if (copy !== undefined && encodedOrUndefined(encode, copy) === keyed()) return run(copy);
  const result = run(args);
  if (isObservable(result)) {
    // It runs on subscription and emits later, past any check here: not stored (fourth review:
    // page 2 under page 1's key, 5 of 5).
    control.skipped = true;
    method.warnOnce(
      'observable-background',
      `${method.owner}: a background refresh (grace, refreshAhead) of this Observable method is not stored: its ` +
        `arguments are not plain data, so it cannot be copied, and the caller may change them while it emits.`,
    );
    return result;
  }
  if (!isThenable(result)) return result;
  const started = encodedOrUndefined(encode, args);
  return Promise.resolve(result).then((value) => {
    if (started === undefined || encodedOrUndefined(encode, args) !== started) {
      control.skipped = control.argsChanged = true;
      method.warnOnce(
        'args-changed-background',
        `${method.owner}: an argument changed while a background refresh of it ran (grace, refreshAhead: its caller ` +
          `got the stale value and reused its object for another call, or the method changed its argument after an ` +
          `await), so its result is not stored. Arguments that are plain data are copied; pass other ones fresh to each call.`,
      );
    }
    return value;
  });
}

function encodedOrUndefined(
  encode: (args: readonly unknown[]) => string,
  args: readonly unknown[],
): string | undefined {
  try {
    return encode(args);
  } catch {
    return undefined;
  }
}

/**
 * A deep copy of plain data: arrays (no holes, no extra keys), plain objects (own enumerable data
 * properties, symbol keys too) and Dates. Undefined for anything else, which the method may tell
 * apart from a copy (a class instance, an Array subclass, a getter, a non-enumerable field, a Proxy,
 * a frozen object, shared or cyclic parts), or when reading it throws.
 */
function plainCopy(args: readonly unknown[]): unknown[] | undefined {
  const seen = new Set<object>();
  const copy = (value: unknown, depth: number): unknown => {
    if (typeof value === 'function') throw NOT_PLAIN;
    if (typeof value !== 'object' || value === null) return value;
    if (depth > 64 || seen.has(value) || types.isProxy(value) || !Object.isExtensible(value)) throw NOT_PLAIN;
    seen.add(value);
    const proto: unknown = Object.getPrototypeOf(value);
    const keys = Reflect.ownKeys(value);
    if (proto === Date.prototype) {
      if (keys.length > 0) throw NOT_PLAIN; // own fields the key does not encode (d.tz = …)
      return new Date((value as Date).getTime());
    }
    if (proto === Array.prototype) {
      const list = value as unknown[];
      if (keys.length !== list.length + 1) throw NOT_PLAIN; // holes or extra keys ('length' is one)
      return list.map((item) => copy(item, depth + 1));
    }
    if (proto !== Object.prototype && proto !== null) throw NOT_PLAIN;
    const out: object = proto === null ? Object.create(null) : {};
    for (const k of keys) {
      const d = Object.getOwnPropertyDescriptor(value, k)!;
      if (!('value' in d) || d.enumerable !== true) throw NOT_PLAIN;
      // Defined, not assigned: an own '__proto__' key stays a key (assigning it sets the prototype).
      Object.defineProperty(out, k, {
        value: copy(d.value, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  };
  try {
    return args.map((a) => copy(a, 0));
  } catch {
    return undefined;
  }
}

const NOT_PLAIN = new Error('not plain data');
