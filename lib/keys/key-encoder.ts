import { EventEmitter } from 'node:events';
import { UnkeyableArgumentError } from '../errors';
import { asBuffer } from '../util/bytes';

/**
 * Canonical, injective encoding of argument lists. Every type gets a distinct spelling
 * (`1` vs `"1"`, `null` vs `undefined`, `Date(...)` vs its ISO string, `["x","y"]` vs `"x,y"`),
 * strings are JSON-quoted so separators inside them cannot shift boundaries, and object keys,
 * Map entries and Set members are sorted so insertion order does not split keys.
 */
export function encodeArgs(args: readonly unknown[], owner: string): string {
  // Fast path for the most common shapes: one primitive id.
  if (args.length === 1) {
    const a = args[0];
    if (typeof a === 'string') return JSON.stringify(a);
    if (typeof a === 'number' && Number.isFinite(a) && !Object.is(a, -0)) return String(a);
  }
  const encoder = new Encoder(owner);
  // f(1) and f(1, undefined) are one call (an optional argument omitted or passed on): trailing
  // undefined arguments are not keyed, so an invalidation with either form finds the entry.
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  let out = '';
  for (let i = 0; i < end; i++) {
    if (i > 0) out += ',';
    out += encoder.encode(args[i], `argument #${i}`);
  }
  return out;
}

/** Encodes one value (used for the `key` option's result). */
export function encodeValue(value: unknown, owner: string, path = 'key'): string {
  return new Encoder(owner).encode(value, path);
}

/** Deeper arguments are not keyed (the call runs uncached): encoding must never exhaust the stack. */
const MAX_DEPTH = 256;
/**
 * Nor larger ones: a key is built before the call runs, and a sparse `new Array(2 ** 32 - 1)`
 * would hold the event loop for half a minute building it. Items, characters and bytes are
 * charged as they are met, before they are walked.
 */
export const MAX_KEY_UNITS = 4 * 1024 * 1024;

class Encoder {
  private readonly ancestors = new Set<object>();
  private room = MAX_KEY_UNITS;
  constructor(private readonly owner: string) {}

  /** Charges `units` (items, characters, bytes) to the key's budget. */
  private charge(units: number, path: string): void {
    if ((this.room -= units) < 0)
      throw this.fail(path, `makes a key of more than ${MAX_KEY_UNITS} items, characters or bytes`);
  }

  encode(value: unknown, path: string): string {
    switch (typeof value) {
      case 'string':
        this.charge(value.length, path);
        return JSON.stringify(value);
      case 'number':
        if (Object.is(value, -0)) return '-0';
        return String(value); // NaN, Infinity, -Infinity spell themselves
      case 'bigint':
        return `${value}n`;
      case 'boolean':
        return value ? 'true' : 'false';
      case 'undefined':
        return 'undefined';
      case 'object':
        return value === null ? 'null' : this.encodeObject(value, path);
      case 'function':
        throw this.fail(path, `is a function (${value.name || 'anonymous'})`);
      case 'symbol':
        throw this.fail(path, `is a symbol (${String(value)})`);
      default:
        throw this.fail(path, `has unsupported type ${typeof value}`);
    }
  }

  private encodeObject(value: object, path: string): string {
    if (this.ancestors.has(value)) throw this.fail(path, 'contains a circular reference');
    if (this.ancestors.size >= MAX_DEPTH) throw this.fail(path, `is nested deeper than ${MAX_DEPTH} levels`);
    this.ancestors.add(value);
    try {
      return this.encodeObjectBody(value, path);
    } finally {
      this.ancestors.delete(value);
    }
  }

  private encodeObjectBody(value: object, path: string): string {
    const custom = (value as { cacheKey?: unknown }).cacheKey;
    if (typeof custom === 'function') {
      return `${ctorName(value)}#(${this.encode(custom.call(value), `${path}.cacheKey()`)})`;
    }
    if (Array.isArray(value)) {
      this.charge(value.length + 1, path);
      let out = '[';
      for (let i = 0; i < value.length; i++) {
        if (i > 0) out += ',';
        const item: unknown = value[i];
        // A hole spells nothing (`[,1]`): an argument that tests `i in list` tells it from `undefined`.
        if (item !== undefined || i in value) out += this.encode(item, `${path}[${i}]`);
        else if (i === value.length - 1) out += ','; // as in JS: `[,]` is one hole, `[]` none
      }
      return out + ']';
    }
    if (value instanceof Date) {
      const t = value.getTime();
      return Number.isNaN(t) ? 'Date(Invalid)' : `Date(${value.toISOString()})`;
    }
    if (ArrayBuffer.isView(value)) {
      this.charge(value.byteLength, path);
      const bytes = asBuffer(value);
      return `${ctorName(value)}(${bytes.toString('base64')})`;
    }
    if (value instanceof ArrayBuffer) {
      this.charge(value.byteLength, path);
      return `ArrayBuffer(${Buffer.from(value).toString('base64')})`;
    }
    if (value instanceof Map) {
      this.charge(value.size, path);
      const entries: string[] = [];
      let i = 0;
      for (const [k, v] of value) {
        entries.push(`${this.encode(k, `${path}<key ${i}>`)}=>${this.encode(v, `${path}<value ${i}>`)}`);
        i++;
      }
      return `Map{${entries.sort().join(',')}}`;
    }
    if (value instanceof Set) {
      this.charge(value.size, path);
      const members: string[] = [];
      let i = 0;
      for (const v of value) members.push(this.encode(v, `${path}<member ${i++}>`));
      return `Set[${members.sort().join(',')}]`;
    }
    if (value instanceof RegExp) return `RegExp(${JSON.stringify(value.source)},${value.flags})`;
    if (value instanceof Promise || value instanceof WeakMap || value instanceof WeakSet || isLive(value)) {
      throw this.fail(path, `is a ${ctorName(value)}, which has no stable value`);
    }
    const proto = Object.getPrototypeOf(value) as object | null;
    const plain = proto === null || proto === Object.prototype || isForeignObjectPrototype(proto);
    if (!plain) {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        return `${ctorName(value)}(${this.encode(toJSON.call(value), `${path}.toJSON()`)})`;
      }
    }
    // An undefined property is absent, as in JSON: `{ role: 'member', active: undefined }` (a DTO
    // from optional query parameters) keys like `{ role: 'member' }`. (Undefined arguments and
    // array items stay distinct from null.)
    const own = Object.keys(value);
    this.charge(own.length, path);
    const keys = own.filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
    if (!plain && keys.length === 0 && own.length === 0) {
      // An instance with no visible state would key every instance alike: refuse, never collide.
      throw this.fail(path, `is a ${ctorName(value)} instance with no enumerable properties`);
    }
    let out = plain ? '{' : `${ctorName(value)}{`;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (i > 0) out += ',';
      out += `${JSON.stringify(k)}:${this.encode((value as Record<string, unknown>)[k], `${path}.${k}`)}`;
    }
    const symbols = Object.getOwnPropertySymbols(value);
    return (symbols.length === 0 ? out : out + this.symbolProperties(value, symbols, keys.length > 0, path)) + '}';
  }

  /**
   * Symbol-keyed properties (Sequelize's `{ age: { [Op.gt]: 18 } }`) are part of the value: a
   * registered symbol (`Symbol.for`) is spelled by its name, never like a string key; any other
   * has no spelling that is the same in every process, so the argument cannot be keyed.
   */
  private symbolProperties(value: object, symbols: symbol[], after: boolean, path: string): string {
    const entries: string[] = [];
    for (const symbol of symbols) {
      if (!Object.prototype.propertyIsEnumerable.call(value, symbol)) continue;
      const property = (value as Record<symbol, unknown>)[symbol];
      if (property === undefined) continue;
      const name = Symbol.keyFor(symbol);
      if (name === undefined)
        throw this.fail(`${path}[${String(symbol)}]`, 'is keyed by a symbol that is not registered (Symbol.for)');
      entries.push(`@${JSON.stringify(name)}:${this.encode(property, `${path}[${String(symbol)}]`)}`);
    }
    entries.sort();
    return entries.length === 0 ? '' : (after ? ',' : '') + entries.join(',');
  }

  private fail(path: string, problem: string): UnkeyableArgumentError {
    return new UnkeyableArgumentError(
      `Cannot build a cache key for ${this.owner}: ${path} ${problem}. ` +
        `Tell the decorator how to key it with @CacheMemoize({ key: (...args) => ... }), ` +
        `or give the object a cacheKey() method.`,
    );
  }
}

/**
 * A value that is read over time, not held: an Observable or Subject (rxjs or any with `subscribe`
 * or Symbol.observable), a thenable, an event emitter or EventTarget (Node streams, sockets, an
 * AbortSignal), an async iterable (web streams), a generator. Its visible state says nothing of
 * what it will deliver: two with different contents would encode alike.
 */
function isLive(value: object): boolean {
  const v = value as Record<string | symbol, unknown>;
  return (
    typeof v.subscribe === 'function' ||
    typeof v.then === 'function' ||
    (typeof Symbol.observable === 'symbol' && typeof v[Symbol.observable] === 'function') ||
    typeof v['@@observable'] === 'function' ||
    typeof v[Symbol.asyncIterator] === 'function' ||
    value instanceof EventEmitter ||
    (typeof EventTarget === 'function' && value instanceof EventTarget) ||
    isGenerator(value)
  );
}

function isGenerator(value: object): boolean {
  const tag = Object.prototype.toString.call(value);
  return tag === '[object Generator]' || tag === '[object AsyncGenerator]';
}

/** Object.prototype of another realm (vm contexts, test sandboxes): still a plain object. */
function isForeignObjectPrototype(proto: object): boolean {
  return (
    Object.getPrototypeOf(proto) === null &&
    (proto as { constructor?: { name?: string } }).constructor?.name === 'Object'
  );
}

function ctorName(value: object): string {
  const ctor = (value as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' && ctor.name ? ctor.name : 'Object';
}
