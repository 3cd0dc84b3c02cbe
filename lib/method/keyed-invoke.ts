import { currentControl } from '../engine/reentry';

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
  method: { readonly owner: string; warnOnce(id: string, message: string): void },
  unchanged: () => boolean,
): void {
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
