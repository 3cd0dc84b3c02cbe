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
      const builtin = BUILTINS.find((b) => proto instanceof b);
      if (builtin !== undefined) {
        throw new InvalidOptionError(
          `${where}: ${name} extends ${builtin.name}, whose internal state (entries, time, elements) is not in its fields: ` +
            `it cannot be revived from data. Return a plain ${builtin.name} or a class that holds one in a field.`,
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

/** Built-ins whose state lives in internal slots, not in own properties. */
const BUILTINS: Function[] = [
  Map,
  Set,
  Date,
  Array,
  RegExp,
  Error,
  Promise,
  WeakMap,
  WeakSet,
  ArrayBuffer,
  Object.getPrototypeOf(Uint8Array) as Function,
];

function describeValue(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
