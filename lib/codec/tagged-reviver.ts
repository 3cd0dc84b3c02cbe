import { SerializationError } from '../errors';
import type { ClassRegistry } from './class-registry';
import { TAG, TYPED_ARRAYS, type Tagged } from './tagged-format';

/**
 * Rebuilds tagged values after JSON.parse, with this realm's constructors. Only classes in the
 * registry get a prototype, by Object.create (no constructor or setter runs); every field is an
 * own data property, so a planted `__proto__` stays an ordinary key.
 */
export class Reviver {
  constructor(private readonly registry: ClassRegistry) {}

  revive(value: unknown): unknown {
    const out = this.node(value);
    if (out === HOLE) throw new SerializationError('an array hole outside an array');
    return out;
  }

  /** A value, or HOLE for a hole's tag (which only an array's item may be). */
  private node(value: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (typeof item !== 'object' || item === null) continue;
        const revived = this.node(item);
        if (revived === HOLE) delete value[i];
        else value[i] = revived;
      }
      return value;
    }
    const record = value as Record<string, unknown>;
    if (Object.prototype.hasOwnProperty.call(record, TAG)) return this.untag(record as Tagged);
    return this.reviveFields(record);
  }

  private reviveFields<T extends Record<string, unknown>>(record: T): T {
    for (const k of Object.keys(record)) {
      const item = record[k];
      if (typeof item !== 'object' || item === null) continue;
      const revived = this.revive(item);
      if (revived === item) continue;
      define(record, k, revived);
    }
    return record;
  }

  private untag(t: Tagged): unknown {
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
        return new Map((v as Array<[unknown, unknown]>).map(([k, val]) => [this.revive(k), this.revive(val)]));
      case 'S':
        return new Set((v as unknown[]).map((m) => this.revive(m)));
      case 'R': {
        const [source, flags] = v as [string, string];
        return new RegExp(source, flags);
      }
      case 'B':
        return Buffer.from(v as string, 'base64');
      case 'U':
        return new Uint8Array(Buffer.from(v as string, 'base64'));
      case 'A': {
        const Ctor = typeof t.c === 'string' ? TYPED_ARRAYS.get(t.c) : undefined;
        if (Ctor === undefined) throw new SerializationError(`unknown typed array ${String(t.c)}`);
        const bytes = Buffer.from(v as string, 'base64');
        const copy = new Uint8Array(bytes).buffer; // aligned, owned copy
        return new Ctor(
          copy,
          0,
          copy.byteLength / (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT,
        );
      }
      case 'O':
        return this.fromEntries(Object.create(Object.prototype) as object, v);
      case 'N':
        return this.fromEntries(Object.create(null) as object, v);
      case 'h':
        return HOLE;
      case 'C': {
        const proto = typeof t.c === 'string' ? this.registry.prototypeOf(t.c) : undefined;
        // Another build may have registered classes this one does not: a miss, then a recomputation.
        if (proto === undefined)
          throw new SerializationError(`class ${JSON.stringify(t.c)} is not registered with this codec`);
        const out = Object.create(proto) as object;
        if (Array.isArray(v)) return this.fromEntries(out, v);
        if (typeof v !== 'object' || v === null) throw new SerializationError('corrupt class instance');
        for (const k of Object.keys(v)) define(out, k, this.revive((v as Record<string, unknown>)[k]));
        return out;
      }
      default:
        throw new SerializationError(`unknown tag ${JSON.stringify(t[TAG])}`);
    }
  }

  private fromEntries(out: object, entries: unknown): object {
    if (!Array.isArray(entries)) throw new SerializationError('corrupt entries');
    for (const [k, val] of entries as Array<[string, unknown]>) define(out, String(k), this.revive(val));
    return out;
  }
}

const HOLE = Symbol('hole');

/** Own data property: never a setter of the prototype, never `__proto__` as a prototype. */
function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
