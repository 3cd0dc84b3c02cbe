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
class Frame implements Ancestry {
  /** Built on the first lookup in a long list (a batch's keys): each call inside it checks in O(1). */
  private set: Set<string> | undefined;
  constructor(
    readonly keys: readonly string[],
    readonly control: FactoryControl | undefined,
  ) {}

  includes(key: string): boolean {
    if (this.keys.length <= 8) return this.keys.includes(key);
    return (this.set ??= new Set(this.keys)).has(key);
  }
}
const frames: Frame[] = [];

/** The keys whose computation started a call (see `ancestors`). */
export interface Ancestry {
  includes(key: string): boolean;
}

class Frames implements Ancestry {
  constructor(private readonly of: readonly Frame[]) {}
  includes(key: string): boolean {
    for (const frame of this.of) if (frame.includes(key)) return true;
    return false;
  }
}

/** Runs `fn` (the synchronous start of the computation of `keys`) with the keys marked. */
export function computingSync<T>(keys: readonly string[], fn: () => T, control?: FactoryControl): T {
  frames.push(new Frame(keys, control));
  try {
    return fn();
  } finally {
    frames.pop();
  }
}

/**
 * The keys being computed synchronously by the callers of this call, if any (undefined: none). The
 * frames, not their keys: a batch's load calling a memoized method per id must not copy the
 * batch's keys on every call (that made 20,000 ids block the event loop for 30 s).
 */
export function ancestors(): Ancestry | undefined {
  if (frames.length === 0) return undefined;
  return frames.length === 1 ? frames[0] : new Frames(frames.slice());
}

/** The control of the computation whose synchronous part is running, if any. */
export function currentControl(): FactoryControl | undefined {
  return frames.length === 0 ? undefined : frames[frames.length - 1].control;
}

/** A computation's factory, run as a refresh its caller does not wait for (FactoryControl.background). */
export function inBackground<T>(factory: () => Promise<T> | T): () => Promise<T> | T {
  return () => {
    const control = currentControl();
    if (control !== undefined) control.background = true;
    return factory();
  };
}

/**
 * Runs a call that is not cached (bypassed, skipped, unkeyable, a shape learnt from this call):
 * its `cacheContext()` gets a control of its own, which nothing reads — never an error, and never
 * the control of a computation that called it.
 */
export function runDetached<T>(fn: () => T, owner: string): T {
  return computingSync([], fn, new FactoryControl('', owner));
}
