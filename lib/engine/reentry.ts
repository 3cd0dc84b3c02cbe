import { FactoryControl } from './factory-control';

/**
 * The computations whose synchronous part is running right now (a stack: a computation may call
 * another memoized method before its first `await`), with their keys and controls.
 *
 * - A call started there that would join the computation of one of these keys would wait for
 *   itself — `getUser(id)` calling `getUsers([id])` of the same namespace, or a method calling
 *   itself with the same arguments — so it runs uncached instead.
 * - `cacheContext()` reads the innermost computation's control.
 *
 * After the computation's first `await` neither can be known without AsyncLocalStorage, which
 * makes every promise of a Node 20 process slower (measured: memory hits at half speed once one
 * is active): the README says what that means for callers.
 */
interface Frame {
  keys: readonly string[];
  control: FactoryControl | undefined;
}
const frames: Frame[] = [];

/** Runs `fn` (the synchronous start of the computation of `keys`) with the keys marked. */
export function computingSync<T>(keys: readonly string[], fn: () => T, control?: FactoryControl): T {
  frames.push({ keys, control });
  try {
    return fn();
  } finally {
    frames.pop();
  }
}

/** The keys being computed synchronously by the callers of this call, if any (undefined: none). */
export function ancestors(): readonly string[] | undefined {
  if (frames.length === 0) return undefined;
  return frames.length === 1 ? frames[0].keys : frames.flatMap((f) => f.keys);
}

/** The control of the computation whose synchronous part is running, if any. */
export function currentControl(): FactoryControl | undefined {
  return frames.length === 0 ? undefined : frames[frames.length - 1].control;
}

/**
 * Runs a call that is not cached (bypassed, skipped, unkeyable, a shape learnt from this call):
 * its `cacheContext()` gets a control of its own, which nothing reads — never an error, and never
 * the control of a computation that called it.
 */
export function runDetached<T>(fn: () => T, owner: string): T {
  return computingSync([], fn, new FactoryControl('', owner));
}
