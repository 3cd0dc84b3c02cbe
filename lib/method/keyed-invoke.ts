import { currentControl } from '../engine/reentry';
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
export function checkKeyed(
  method: KeyedMethod,
  unchanged: () => boolean,
  /** The computation's control (by default the one whose synchronous part is running). */
  control = currentControl(),
): void {
  if (encodesAsKeyed(unchanged)) return;
  if (control !== undefined) control.skipped = control.argsChanged = true;
  method.warnOnce(
    'args-changed',
    `${method.owner}: an argument changed between the call and the computation (an object the caller, ` +
      `or another call it was also passed to, changed meanwhile: q.page = n in a loop before awaiting), so ` +
      `the method ran on other arguments than its key says and its result is not stored. Pass each call its own object.`,
  );
}

function encodesAsKeyed(unchanged: () => boolean): boolean {
  try {
    return unchanged();
  } catch {
    return false; // no longer encodable: changed
  }
}

/**
 * Runs the method on its arguments. A refresh whose caller went on (grace, refreshAhead: it got the
 * stale value) runs while that caller may reuse its objects for its next call, so a method reading
 * them after its first await read the next call's (review of 217db0a: page 2 stored under page 1's
 * key, 24 of 30 reads): it runs on a copy when they are plain data that encodes as keyed, else on
 * the caller's own, checked again when it settles (not stored if they changed meanwhile).
 */
export function applyKeyed(
  method: KeyedMethod,
  args: readonly unknown[],
  keyed: (args: readonly unknown[]) => boolean,
  run: (args: readonly unknown[]) => unknown,
): unknown {
  const control = currentControl();
  if (control?.background !== true) return run(args);
  const copy = plainCopy(args, 0);
  if (copy !== NOT_PLAIN && encodesAsKeyed(() => keyed(copy as unknown[]))) return run(copy as unknown[]);
  const result = run(args);
  if (!isThenable(result)) return result;
  return Promise.resolve(result).then((value) => {
    checkKeyed(method, () => keyed(args), control);
    return value;
  });
}

const NOT_PLAIN = Symbol('not plain');

/** A deep copy of arrays, plain objects (symbol keys too) and Dates; NOT_PLAIN for anything else (a class instance, a Map, a cycle). */
function plainCopy(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return typeof value === 'function' ? NOT_PLAIN : value;
  if (depth > 64) return NOT_PLAIN;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const c = plainCopy(item, depth + 1);
      if (c === NOT_PLAIN) return NOT_PLAIN;
      out.push(c);
    }
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Date.prototype) return new Date((value as Date).getTime());
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN; // a class instance: its own object
  const out: Record<PropertyKey, unknown> = proto === null ? Object.create(null) : {};
  for (const k of Reflect.ownKeys(value)) {
    if (!Object.prototype.propertyIsEnumerable.call(value, k)) continue;
    const c = plainCopy((value as Record<PropertyKey, unknown>)[k], depth + 1);
    if (c === NOT_PLAIN) return NOT_PLAIN;
    out[k] = c;
  }
  return out;
}
