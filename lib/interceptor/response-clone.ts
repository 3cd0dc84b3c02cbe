/**
 * A deep copy of a handler's response that keeps every object's prototype (class instances stay
 * instances, so ClassSerializerInterceptor sees the same classes), shares nothing mutable with the
 * original, and handles cycles. The stored copy and every copy served are separate objects: an
 * outer interceptor that adds a per-request field (`data.viewer = req.user`) to the response it is
 * given can never change what another request receives. Immutable or opaque values (functions,
 * Promises, streams) are passed by reference; they are not cacheable responses anyway. A class's
 * `#private` fields cannot be copied: keep response classes' state in ordinary fields. Iterative, so
 * that a body nested deeper than the call stack is copied rather than failing a request the
 * framework itself could answer.
 */
export function cloneResponse<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  const clone = new Clone();
  const root = clone.shell(value);
  clone.fillAll();
  return root as T;
}

type Container = unknown[] | Map<unknown, unknown> | Set<unknown> | object;

class Clone {
  private readonly seen = new Map<object, Container>();
  /** Copies made but not yet filled: [original, copy]. */
  private readonly pending: Array<[object, Container]> = [];

  /** The copy of `value`, its contents queued; or the value itself where it is not copied deeply. */
  shell(value: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value;
    const known = this.seen.get(value);
    if (known !== undefined) return known;
    let out: Container;
    if (Array.isArray(value)) {
      out = new Array(value.length);
      if (Object.getPrototypeOf(value) !== Array.prototype)
        Object.setPrototypeOf(out, Object.getPrototypeOf(value) as object);
    } else if (value instanceof Map) out = new Map();
    else if (value instanceof Set) out = new Set();
    else if (value instanceof Date) return new Date(value.getTime());
    else if (Buffer.isBuffer(value)) return Buffer.from(value);
    else if (ArrayBuffer.isView(value)) return (value as unknown as { slice(): unknown }).slice();
    else if (value instanceof RegExp) return new RegExp(value.source, value.flags);
    // State in internal slots, which copying properties would leave behind (toJSON would then throw).
    else if (value instanceof URL) return new URL(value.href);
    else if (value instanceof URLSearchParams) return new URLSearchParams(value);
    else if (
      typeof (value as { then?: unknown }).then === 'function' ||
      typeof (value as { pipe?: unknown }).pipe === 'function'
    )
      return value;
    else out = Object.create(Object.getPrototypeOf(value) as object | null) as object;
    this.seen.set(value, out);
    this.pending.push([value, out]);
    return out;
  }

  fillAll(): void {
    for (let next = this.pending.pop(); next !== undefined; next = this.pending.pop()) this.fill(next[0], next[1]);
  }

  private fill(source: object, out: Container): void {
    if (Array.isArray(source)) {
      const list = out as unknown[];
      for (let i = 0; i < source.length; i++) list[i] = this.shell(source[i]);
    } else if (source instanceof Map) {
      for (const [k, v] of source) (out as Map<unknown, unknown>).set(this.shell(k), this.shell(v));
    } else if (source instanceof Set) {
      for (const v of source) (out as Set<unknown>).add(this.shell(v));
    } else {
      // Own properties of every kind (symbols, non-enumerable), as they are; data values copied deeply.
      for (const key of Reflect.ownKeys(source)) {
        const descriptor = Object.getOwnPropertyDescriptor(source, key)!;
        if ('value' in descriptor) descriptor.value = this.shell(descriptor.value);
        Object.defineProperty(out, key, descriptor);
      }
    }
  }
}
