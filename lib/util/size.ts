/** Values estimated beyond this many nodes count as this large: an estimate must stay cheap. */
const MAX_NODES = 10_000;

/**
 * Rough retained-size estimate of a value, used by the memory store's byte bound when it keeps
 * objects rather than bytes. Counts what dominates (strings, buffers, containers), walks
 * iteratively (a deeply nested value cannot exhaust the stack), visits each object once and
 * stops after MAX_NODES; it is an estimate, not a heap measurement, and never throws.
 */
export function estimateSize(root: unknown): number {
  let size = 0;
  let nodes = 0;
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  try {
    while (stack.length > 0) {
      if (++nodes > MAX_NODES) return size + (stack.length + nodes) * 64;
      const value = stack.pop();
      switch (typeof value) {
        case 'string':
          size += 16 + value.length * 2;
          continue;
        case 'bigint':
          size += 16 + Math.ceil(value.toString(16).length / 2);
          continue;
        case 'object':
          break;
        default:
          size += 8;
          continue;
      }
      if (value === null || seen.has(value)) {
        size += 8;
        continue;
      }
      seen.add(value);
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
        size += 64 + value.byteLength;
      } else if (value instanceof Date) {
        size += 32;
      } else if (Array.isArray(value)) {
        size += 32 + value.length * 8;
        for (const item of value) stack.push(item);
      } else if (value instanceof Map) {
        size += 32 + value.size * 16;
        for (const [k, v] of value) stack.push(k, v);
      } else if (value instanceof Set) {
        size += 32 + value.size * 8;
        for (const v of value) stack.push(v);
      } else {
        size += 32;
        for (const k of Object.keys(value)) {
          size += 8 + k.length * 2;
          stack.push((value as Record<string, unknown>)[k]);
        }
      }
    }
  } catch {
    // a throwing getter or proxy: what was counted so far
  }
  return size;
}
