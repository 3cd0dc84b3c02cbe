import { InvalidOptionError } from '../errors';

import type { ClassRegistryInput } from '../types/classes';

export type { CacheableClass, ClassRegistryInput } from '../types/classes';

/**
 * Name <-> prototype of the registered classes. Only these are ever revived: decoding looks the
 * stored name up here and nowhere else, so data cannot name a class into existence.
 */
export class ClassRegistry {
  private readonly byName = new Map<string, object>();
  private readonly byPrototype = new Map<object, string>();

  constructor(input: ClassRegistryInput = [], where = 'classes') {
    const entries: Array<[string, unknown]> = Array.isArray(input)
      ? (input as readonly unknown[]).map((cls) => [typeof cls === 'function' ? cls.name : '', cls])
      : Object.entries(input as Record<string, unknown>);
    for (const [name, cls] of entries) {
      if (typeof cls !== 'function' || typeof (cls as { prototype?: unknown }).prototype !== 'object') {
        throw new InvalidOptionError(`${where}: every entry must be a class, got ${describeValue(cls)}.`);
      }
      if (name === '') {
        throw new InvalidOptionError(
          `${where}: an anonymous class cannot be registered by name; use a record, e.g. { MyClass: cls }.`,
        );
      }
      const proto = (cls as { prototype: object }).prototype;
      const builtin = nativeAncestor(proto);
      if (builtin !== undefined) {
        const is = builtin.prototype === proto ? 'is' : 'extends';
        throw new InvalidOptionError(
          `${where}: ${name} ${is} ${builtin.name}, whose internal state (entries, time, elements, an address) is not in ` +
            `its fields: it cannot be revived from data. Return plain data, or a class that holds such a value in a field.`,
        );
      }
      const known = this.byName.get(name);
      if (known !== undefined && known !== proto) {
        throw new InvalidOptionError(
          `${where}: two different classes are named '${name}'. Register them under distinct names with a record, ` +
            `e.g. { 'billing.${name}': ${name}, 'shop.${name}': Other${name} }.`,
        );
      }
      this.byName.set(name, proto);
      if (!this.byPrototype.has(proto)) this.byPrototype.set(proto, name);
    }
  }

  get size(): number {
    return this.byName.size;
  }

  /** The library's own class under a reserved name (a `~`-name no user registration may take). */
  addBuiltin(name: string, cls: Function): void {
    if (this.byName.has(name)) throw new InvalidOptionError(`classes: the name '${name}' is reserved by the library.`);
    this.byName.set(name, cls.prototype as object);
    this.byPrototype.set(cls.prototype as object, name);
  }

  nameOf(proto: object): string | undefined {
    return this.byPrototype.get(proto);
  }

  prototypeOf(name: string): object | undefined {
    return this.byName.get(name);
  }
}

/**
 * The built-in class (Map, Date, URL, ArrayBuffer, ...) this prototype is or descends from: its
 * state lives in internal slots, not in own properties, so no copy of its fields revives it.
 */
export function nativeAncestor(proto: object): Function | undefined {
  // Up to, not including, the root Object.prototype (of whichever realm: Jest's differs from Node's).
  for (let p = proto; Object.getPrototypeOf(p) !== null; p = Object.getPrototypeOf(p) as object) {
    const ctor = (p as { constructor?: unknown }).constructor;
    if (typeof ctor !== 'function' || ctor.prototype !== p) continue;
    if (SLOTTED.includes(ctor) || NATIVE.test(Function.prototype.toString.call(ctor))) return ctor;
  }
  return undefined;
}
const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;
/** Node's classes written in JavaScript that keep their state in #private fields. */
const SLOTTED: Function[] = [URL, URLSearchParams, Blob, AbortController, AbortSignal];

function describeValue(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
