/**
 * A deep copy of a handler's response that keeps every object's prototype (class instances stay
 * instances, so ClassSerializerInterceptor sees the same classes), shares nothing mutable with the
 * original, and handles cycles. The stored copy and every copy served are separate objects: an
 * outer interceptor that adds a per-request field (`data.viewer = req.user`) to the response it is
 * given can never change what another request receives. Immutable or opaque values (functions,
 * Promises, streams) are passed by reference; they are not cacheable responses anyway. A class's
 * `#private` fields cannot be copied: keep response classes' state in ordinary fields.
 */
export function cloneResponse<T>(value: T): T {
  return copy(value, new Map()) as T;
}

function copy(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const known = seen.get(value);
  if (known !== undefined) return known;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    seen.set(value, out);
    for (let i = 0; i < value.length; i++) out[i] = copy(value[i], seen);
    if (Object.getPrototypeOf(value) !== Array.prototype)
      Object.setPrototypeOf(out, Object.getPrototypeOf(value) as object);
    return out;
  }
  if (value instanceof Date) return new Date(value.getTime());
  if (value instanceof Map) {
    const out = new Map();
    seen.set(value, out);
    for (const [k, v] of value) out.set(copy(k, seen), copy(v, seen));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set();
    seen.set(value, out);
    for (const v of value) out.add(copy(v, seen));
    return out;
  }
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return (value as unknown as { slice(): unknown }).slice();
  if (value instanceof RegExp) return new RegExp(value.source, value.flags);
  // State in internal slots, which copying properties would leave behind (toJSON would then throw).
  if (value instanceof URL) return new URL(value.href);
  if (value instanceof URLSearchParams) return new URLSearchParams(value);
  if (
    typeof (value as { then?: unknown }).then === 'function' ||
    typeof (value as { pipe?: unknown }).pipe === 'function'
  )
    return value;
  const out = Object.create(Object.getPrototypeOf(value) as object | null) as object;
  seen.set(value, out);
  // Own properties of every kind (symbols, non-enumerable), as they are; data values copied deeply.
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
    if ('value' in descriptor) descriptor.value = copy(descriptor.value, seen);
    Object.defineProperty(out, key, descriptor);
  }
  return out;
}
