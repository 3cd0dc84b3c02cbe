/**
 * Keys whose computation is running its synchronous part right now (a stack: a computation may
 * call another memoized method before its first `await`). A call started there that would join the
 * computation of one of these keys would wait for itself — `getUser(id)` calling
 * `getUsers([id])` of the same namespace, or a method calling itself with the same arguments — so
 * it runs uncached instead. Calls made after the computation's first `await` cannot be told apart
 * without AsyncLocalStorage (which slows every promise of the process on Node 20): see the README.
 */
const stack: string[] = [];

/** Runs `fn` (the synchronous start of the computation of `keys`) with the keys marked. */
export function computingSync<T>(keys: readonly string[], fn: () => T): T {
  const depth = stack.length;
  for (const key of keys) stack.push(key);
  try {
    return fn();
  } finally {
    stack.length = depth;
  }
}

/** The keys being computed synchronously by the callers of this call, if any (undefined: none). */
export function ancestors(): readonly string[] | undefined {
  return stack.length === 0 ? undefined : stack.slice();
}
