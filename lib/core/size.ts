/**
 * Rough retained-size estimate of a value, used by the memory store's byte bound when it keeps
 * objects rather than bytes. Counts what dominates (strings, buffers, containers) and never
 * loops on cycles; it is an estimate, not an exact heap measurement.
 */
export function estimateSize(value: unknown, seen: Set<object> = new Set()): number {
  switch (typeof value) {
    case 'string':
      return 16 + value.length * 2;
    case 'number':
    case 'boolean':
    case 'undefined':
      return 8;
    case 'bigint':
      return 16 + Math.ceil(value.toString(16).length / 2);
    case 'object': {
      if (value === null) return 8;
      if (seen.has(value)) return 8;
      seen.add(value);
      if (ArrayBuffer.isView(value)) return 64 + value.byteLength;
      if (value instanceof ArrayBuffer) return 64 + value.byteLength;
      if (value instanceof Date) return 32;
      let size = 32;
      if (Array.isArray(value)) {
        for (const item of value) size += 8 + estimateSize(item, seen);
        return size;
      }
      if (value instanceof Map) {
        for (const [k, v] of value) size += 16 + estimateSize(k, seen) + estimateSize(v, seen);
        return size;
      }
      if (value instanceof Set) {
        for (const v of value) size += 8 + estimateSize(v, seen);
        return size;
      }
      for (const k of Object.keys(value)) {
        size += 8 + k.length * 2 + estimateSize((value as Record<string, unknown>)[k], seen);
      }
      return size;
    }
    default:
      return 8;
  }
}
