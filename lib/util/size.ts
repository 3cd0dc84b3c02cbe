/**
 * Rough retained-size estimate of a value, used by the memory store's byte bound when it keeps
 * objects rather than bytes. Counts what dominates (strings, buffers, containers) wherever it sits:
 * every object is visited once (a shared sub-object is counted once; iteratively, so a deeply
 * nested value cannot exhaust the stack), primitives are counted where their container lists
 * them. The walk is linear in the value's size and stops as soon as the estimate passes `limit`
 * (what the caller would refuse anyway: the store's maxBytes), so a value larger than that costs
 * at most a walk over `limit` bytes' worth of it. An estimate, not a heap measurement; never throws.
 */
export function estimateSize(root: unknown, limit = Number.POSITIVE_INFINITY): number {
  let size = 0;
  const seen = new Set<object>();
  const stack: object[] = [];
  const add = (value: unknown): void => {
    switch (typeof value) {
      case 'string':
        size += 16 + value.length * 2;
        return;
      case 'bigint':
        size += 16 + Math.ceil(value.toString(16).length / 2);
        return;
      case 'object':
        if (value === null || seen.has(value)) break;
        seen.add(value);
        stack.push(value);
        return;
    }
    size += 8;
  };
  try {
    add(root);
    while (stack.length > 0 && size <= limit) {
      const value = stack.pop()!;
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
        size += 64 + value.byteLength;
      } else if (value instanceof Date) {
        size += 32;
      } else if (Array.isArray(value)) {
        size += 32 + value.length * 8;
        for (const item of value) add(item);
      } else if (value instanceof Map) {
        size += 32 + value.size * 16;
        for (const [k, v] of value) {
          add(k);
          add(v);
        }
      } else if (value instanceof Set) {
        size += 32 + value.size * 8;
        for (const v of value) add(v);
      } else {
        size += 32;
        for (const k of Object.keys(value)) {
          size += 8 + k.length * 2;
          add((value as Record<string, unknown>)[k]);
        }
      }
    }
  } catch {
    // a throwing getter or proxy: what was counted so far
  }
  return size;
}
