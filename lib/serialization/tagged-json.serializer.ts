import { SerializationError } from '../errors';
import type { Serializer } from './serializer.interface';
import { asBuffer } from './bytes';

/**
 * The default codec: JSON, with the values JSON loses spelled as tagged objects
 * (`{"$t":"D","v":0}` for a Date, ...): Date, Map, Set, BigInt, undefined, NaN/±Infinity/-0,
 * Buffer (distinct from Uint8Array) and the other typed arrays round-trip exactly, in every
 * store. Decoding is JSON.parse plus a walk that rebuilds tagged values with this realm's
 * constructors: no code runs, no prototype is set (`__proto__` stays an ordinary own key).
 * Payloads without any tagged value skip the walk (first byte 'J' instead of 'T').
 */
const TAG = '$t';
type Tagged = { [TAG]: string; v?: unknown; c?: string };

const TYPED_ARRAYS: Record<string, new (buffer: ArrayBuffer, offset: number, length: number) => ArrayBufferView> = {
  Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array,
  BigInt64Array, BigUint64Array,
};

class Encoder {
  tagged = false;
  private readonly ancestors = new Set<object>();

  walk(value: unknown): unknown {
    switch (typeof value) {
      case 'string':
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
        throw new SerializationError(`cannot serialize a ${typeof value}; results must be data (functions and symbols are not)`);
    }
  }

  private object(value: object): unknown {
    if (this.ancestors.has(value)) throw new SerializationError('cannot serialize a circular structure');
    this.ancestors.add(value);
    try {
      return this.objectBody(value);
    } finally {
      this.ancestors.delete(value);
    }
  }

  private objectBody(value: object): unknown {
    if (Array.isArray(value)) {
      const out = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i++) out[i] = this.walk(value[i]);
      return out;
    }
    if (value instanceof Date) {
      const t = value.getTime();
      return this.tag('D', Number.isNaN(t) ? null : t);
    }
    if (value instanceof Map) {
      const entries: unknown[] = [];
      for (const [k, v] of value) entries.push([this.walk(k), this.walk(v)]);
      return this.tag('M', entries);
    }
    if (value instanceof Set) {
      const members: unknown[] = [];
      for (const v of value) members.push(this.walk(v));
      return this.tag('S', members);
    }
    if (ArrayBuffer.isView(value)) {
      const base64 = asBuffer(value).toString('base64');
      if (Buffer.isBuffer(value)) return this.tag('B', base64);
      if (value instanceof Uint8Array) return this.tag('U', base64);
      const name = value.constructor.name;
      if (!(name in TYPED_ARRAYS)) throw new SerializationError(`cannot serialize a ${name}`);
      return { ...this.tag('A', base64), c: name };
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return this.walk(toJSON.call(value));
    const out: Record<string, unknown> = {};
    let escaped = false;
    for (const k of Object.keys(value)) {
      if (k === TAG) escaped = true;
      const v = this.walk((value as Record<string, unknown>)[k]);
      if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      else out[k] = v;
    }
    // An object that has a "$t" key of its own is stored as entries so it cannot pose as a tag.
    return escaped ? this.tag('O', Object.entries(out)) : out;
  }

  private tag(type: string, v?: unknown): Tagged {
    this.tagged = true;
    return v === undefined ? { [TAG]: type } : { [TAG]: type, v };
  }
}

function revive(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (typeof item === 'object' && item !== null) value[i] = revive(item);
    }
    return value;
  }
  const record = value as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(record, TAG)) return untag(record as Tagged);
  for (const k of Object.keys(record)) {
    const item = record[k];
    if (typeof item !== 'object' || item === null) continue;
    const revived = revive(item);
    if (revived === item) continue;
    if (k === '__proto__') Object.defineProperty(record, k, { value: revived, enumerable: true, writable: true, configurable: true });
    else record[k] = revived;
  }
  return record;
}

function untag(t: Tagged): unknown {
  const v = t.v;
  switch (t[TAG]) {
    case 'u':
      return undefined;
    case 'f':
      return v === '-0' ? -0 : Number(v);
    case 'n':
      return BigInt(v as string);
    case 'D':
      return new Date(v === null ? Number.NaN : (v as number));
    case 'M':
      return new Map((v as Array<[unknown, unknown]>).map(([k, val]) => [revive(k), revive(val)]));
    case 'S':
      return new Set((v as unknown[]).map(revive));
    case 'B':
      return Buffer.from(v as string, 'base64');
    case 'U':
      return new Uint8Array(Buffer.from(v as string, 'base64'));
    case 'A': {
      const Ctor = TYPED_ARRAYS[t.c as string];
      if (Ctor === undefined) throw new SerializationError(`unknown typed array ${String(t.c)}`);
      const bytes = Buffer.from(v as string, 'base64');
      const copy = new Uint8Array(bytes).buffer; // aligned, owned copy
      return new Ctor(copy, 0, copy.byteLength / ((Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT));
    }
    case 'O': {
      const out: Record<string, unknown> = {};
      for (const [k, val] of v as Array<[string, unknown]>) {
        Object.defineProperty(out, k, { value: revive(val), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default:
      throw new SerializationError(`unknown tag ${JSON.stringify(t[TAG])}`);
  }
}

export const taggedJsonSerializer: Serializer = {
  name: 'tagged-json',
  encode(value) {
    const encoder = new Encoder();
    const tree = encoder.walk(value);
    return Buffer.from((encoder.tagged ? 'T' : 'J') + JSON.stringify(tree), 'utf8');
  },
  decode(bytes) {
    return decodeFrom(asBuffer(bytes), 0);
  },
  decodeFrom,
};

function decodeFrom(buf: Buffer, offset: number): unknown {
  const kind = buf[offset];
  if (kind !== 74 /* J */ && kind !== 84 /* T */) throw new SerializationError('not a tagged-json payload');
  // Decode from past the marker directly: no sliced string for JSON.parse to flatten.
  const tree: unknown = JSON.parse(buf.toString('utf8', offset + 1));
  return kind === 84 ? revive(tree) : tree;
}
