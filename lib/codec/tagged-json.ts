import { SerializationError } from '../errors';
import type { Serializer } from '../types/serializer';
import { asBuffer } from '../util/bytes';
import { CACHED_ERROR_RECORD, CachedErrorRecord } from './cached-error-record';
import { ClassRegistry, type ClassRegistryInput } from './class-registry';

/**
 * The default codec: JSON, with the values JSON loses spelled as tagged objects
 * (`{"$t":"D","v":0}` for a Date, ...): Date, Map, Set, BigInt, undefined, NaN/±Infinity/-0,
 * RegExp, Buffer (distinct from Uint8Array) and the other typed arrays round-trip exactly, in
 * every store. Instances of registered classes come back with their prototype (own fields defined
 * on `Object.create(prototype)`: no constructor, setter or other code runs); an instance of any
 * other class is refused (UncacheableValueError), because it would come back as a plain object.
 * Decoding is JSON.parse plus a walk that rebuilds tagged values with this realm's constructors:
 * nothing outside the registry gets a prototype, `__proto__` stays an ordinary own key.
 * Payloads without any tagged value skip the walk (first byte 'J' instead of 'T').
 */
import { MAX_DEPTH, MAX_ENCODED_BYTES, TAG, TYPED_ARRAYS, type Tagged } from './tagged-format';
import { Reviver } from './tagged-reviver';
import { checkSymbolKeys, hiddenState, namedItems, tooLarge, tooRepetitive, unregistered } from './refusals';

export { MAX_DEPTH, MAX_ENCODED_BYTES } from './tagged-format';

export interface TaggedJsonOptions {
  /** Classes revived with their prototype (module option `classes`). */
  classes?: ClassRegistryInput;
}

class Encoder {
  tagged = false;
  /**
   * Bytes the encoded value may still take. The walk charges a lower bound of each part's JSON
   * (strings, keys, separators) and stops once it runs out, before building what cannot be stored.
   */
  private room = MAX_ENCODED_BYTES;
  /** Objects walked; past TRACK_FROM, which of them were walked before (shared sub-objects). */
  private objects = 0;
  private repeats = 0;
  private seen: Set<object> | undefined;
  private readonly ancestors = new Set<object>();
  /** Keys from the root to the value being encoded, for error messages. */
  private readonly path: Array<string | number> = [];

  constructor(private readonly registry: ClassRegistry) {}

  walk(value: unknown): unknown {
    switch (typeof value) {
      case 'string':
        if ((this.room -= value.length + 2) < 0) throw this.tooLarge();
        return value;
      case 'boolean':
        return value;
      case 'number':
        if (Number.isFinite(value) && !Object.is(value, -0)) return value;
        return this.tag('f', Object.is(value, -0) ? '-0' : String(value));
      case 'undefined':
        return this.tag('u');
      case 'bigint':
        return this.tag('n', value.toString());
      case 'object':
        return value === null ? null : this.object(value);
      default:
        throw new SerializationError(
          `cannot serialize a ${typeof value} at ${this.where()}; results must be data (functions and symbols are not)`,
        );
    }
  }

  private object(value: object): unknown {
    if (this.ancestors.has(value))
      throw new SerializationError(`cannot serialize a circular structure (at ${this.where()})`);
    if (this.ancestors.size >= MAX_DEPTH)
      throw new SerializationError(`value nested deeper than ${MAX_DEPTH} levels (at ${this.where()})`);
    if (++this.objects > TRACK_FROM) this.countRepeat(value);
    this.ancestors.add(value);
    try {
      return this.objectBody(value);
    } finally {
      this.ancestors.delete(value);
    }
  }

  /**
   * A large value's objects are remembered, so one walked again (a sub-object referenced from
   * several places: JSON writes it once per reference) is counted. Past the repeats allowed (see
   * MIN_REPEATS) the encoding stops: 24 objects each referencing the next twice would otherwise
   * build 2^24 copies.
   */
  private countRepeat(value: object): void {
    const seen = (this.seen ??= new Set());
    const before = seen.size;
    if (seen.add(value).size !== before) return;
    if (++this.repeats > MIN_REPEATS && this.repeats > REPEATS_PER_OBJECT * (this.objects - this.repeats))
      throw tooRepetitive(this.repeats, this.where());
  }

  private objectBody(value: object): unknown {
    const proto = Object.getPrototypeOf(value) as object | null;
    if (Array.isArray(value) && (proto === Array.prototype || Array.isArray(proto))) {
      // Brackets, and a separator or more per item (charged before the items are walked).
      if ((this.room -= value.length + 2) < 0) throw this.tooLarge();
      const out = new Array<unknown>(value.length);
      let holes = 0;
      for (let i = 0; i < value.length; i++) {
        this.path.push(i);
        const item = value[i];
        if (item !== undefined || i in value) out[i] = this.walk(item);
        else {
          out[i] = this.tag('h'); // a hole stays one
          holes++;
        }
        this.path.pop();
      }
      if (Object.keys(value).length !== value.length - holes) throw namedItems(value, this.where());
      return out;
    }
    if (proto === null || proto === Object.prototype || isForeignObjectPrototype(proto)) {
      if (Object.getOwnPropertySymbols(value).length > 0) checkSymbolKeys(value, this.where());
      return this.fields(value, undefined, proto === null);
    }
    if (proto === Date.prototype) {
      const t = (value as Date).getTime();
      return this.tag('D', Number.isNaN(t) ? null : t);
    }
    if (proto === Map.prototype) {
      if ((this.room -= (value as Map<unknown, unknown>).size * 4) < 0) throw this.tooLarge();
      const entries: unknown[] = [];
      for (const [k, v] of value as Map<unknown, unknown>) entries.push([this.walk(k), this.walk(v)]);
      return this.tag('M', entries);
    }
    if (proto === Set.prototype) {
      if ((this.room -= (value as Set<unknown>).size) < 0) throw this.tooLarge();
      const members: unknown[] = [];
      for (const v of value as Set<unknown>) members.push(this.walk(v));
      return this.tag('S', members);
    }
    if (proto === RegExp.prototype) return this.tag('R', [(value as RegExp).source, (value as RegExp).flags]);
    if (
      ArrayBuffer.isView(value) &&
      (Buffer.isBuffer(value) ||
        proto === Uint8Array.prototype ||
        TYPED_ARRAYS.get(value.constructor.name)?.prototype === proto)
    ) {
      if ((this.room -= Math.ceil(value.byteLength / 3) * 4) < 0) throw this.tooLarge();
      const base64 = asBuffer(value).toString('base64');
      if (Buffer.isBuffer(value)) return this.tag('B', base64);
      if (value instanceof Uint8Array) return this.tag('U', base64);
      return { ...this.tag('A', base64), c: value.constructor.name };
    }
    const name = this.registry.nameOf(proto);
    if (name !== undefined) {
      // State outside the own enumerable fields would be lost silently on the way back.
      const own = Reflect.ownKeys(value);
      if (own.length !== Object.keys(value).length) throw hiddenState(value, own, this.where());
      return this.fields(value, name);
    }
    throw unregistered(value, this.where(), this.registry);
  }

  /**
   * A plain object's own enumerable fields, or a registered class instance's (tagged 'C'); one
   * without a prototype is tagged 'N' (entries), so it comes back without one.
   */
  private fields(value: object, className: string | undefined, bare = false): unknown {
    const out: Record<string, unknown> = {};
    let escaped = false;
    this.room -= 2;
    for (const k of Object.keys(value)) {
      if (k === TAG) escaped = true;
      // Quotes, colon, a separator and the shortest value.
      if ((this.room -= k.length + 5) < 0) throw this.tooLarge();
      this.path.push(k);
      const v = this.walk((value as Record<string, unknown>)[k]);
      this.path.pop();
      if (k === '__proto__')
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      else out[k] = v;
    }
    if (className !== undefined) return { ...this.tag('C', escaped ? Object.entries(out) : out), c: className };
    if (bare) return this.tag('N', Object.entries(out));
    // An object that has a "$t" key of its own is stored as entries so it cannot pose as a tag.
    return escaped ? this.tag('O', Object.entries(out)) : out;
  }

  private where(): string {
    let out = 'result';
    for (const k of this.path)
      out += typeof k === 'number' ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
    return out;
  }

  tooLarge(): SerializationError {
    return tooLarge(this.where());
  }

  private tag(type: string, v?: unknown): Tagged {
    this.tagged = true;
    this.room -= 10;
    return v === undefined ? { [TAG]: type } : { [TAG]: type, v };
  }
}

/** Objects walked before the encoder starts remembering them (small values pay nothing). */
const TRACK_FROM = 65_536;
/**
 * Objects a value may walk again (shared sub-objects) before the encoder gives up: as many as
 * REPEATS_PER_OBJECT times the objects it holds (rows sharing a relation), and at least MIN_REPEATS.
 */
const MIN_REPEATS = 262_144;
const REPEATS_PER_OBJECT = 4;

/** Object.prototype of another realm (vm contexts, test sandboxes): still a plain object. */
function isForeignObjectPrototype(proto: object): boolean {
  return (
    Object.getPrototypeOf(proto) === null &&
    (proto as { constructor?: { name?: string } }).constructor?.name === 'Object'
  );
}

/** The tagged-JSON codec with a class registry (the module builds one from its `classes` option). */
export function createTaggedJsonSerializer(
  options: TaggedJsonOptions = {},
): Serializer & { readonly classes: ClassRegistry } {
  const registry = new ClassRegistry(options.classes ?? [], 'classes');
  registry.addBuiltin(CACHED_ERROR_RECORD, CachedErrorRecord);
  const reviver = new Reviver(registry);
  const decodeFrom = (bytes: Uint8Array, offset: number): unknown => {
    const buf = asBuffer(bytes); // the engine passes a Buffer: no copy
    const kind = buf[offset];
    if (kind !== 74 /* J */ && kind !== 84 /* T */) throw new SerializationError('not a tagged-json payload');
    // Decode from past the marker directly: no sliced string for JSON.parse to flatten.
    const tree: unknown = JSON.parse(buf.toString('utf8', offset + 1));
    return kind === 84 ? reviver.revive(tree) : tree;
  };
  return {
    name: 'tagged-json',
    classes: registry,
    cachesErrors: true,
    encode(value) {
      const encoder = new Encoder(registry);
      const tree = encoder.walk(value);
      const out = Buffer.from((encoder.tagged ? 'T' : 'J') + JSON.stringify(tree), 'utf8');
      // The walk's charges are a lower bound (escapes, numbers and UTF-8 take more).
      if (out.length > MAX_ENCODED_BYTES + 1) throw encoder.tooLarge();
      return out;
    },
    decode: (bytes) => decodeFrom(bytes, 0),
    decodeFrom,
  };
}

/** The default codec without registered classes (class instances are not stored). */
export const taggedJsonSerializer: Serializer = createTaggedJsonSerializer();
