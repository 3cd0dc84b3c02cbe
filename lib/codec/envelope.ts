import type { Serializer } from '../types/serializer';
import { asBuffer } from '../util/bytes';

/**
 * Byte layout of an entry in a shared store. The metadata sits in a fixed binary header so a hit
 * can decide freshness (expiry, epoch) without parsing the dependency list, and the value is
 * decoded only once the entry is known to be fresh.
 *
 *   'C' 'M' 3 | u8 flags | f64 createdAt | f64 freshUntil | f64 staleUntil
 *   | u8 epochLength | epoch | u8 etagLength | etag | u32 depsLength | deps (JSON) | value
 *   | [16-byte signature when flags & SIGNED]
 *
 * `deps` is `[[key, token], ...]`: the version token each dependency had when the computation
 * started, keys relative to the app prefix. When flags & COMPRESSED the value is one algorithm
 * byte and the compressed bytes. Stores see opaque bytes.
 */
const MAGIC0 = 0x43;
const MAGIC1 = 0x4d;
const VERSION = 3;
const FIXED = 4 + 8 * 3 + 1;
/** Flag bits. Readers of this version understand both; older readers treat flagged entries as misses. */
export const COMPRESSED = 1;
export const SIGNED = 2;
const KNOWN_FLAGS = COMPRESSED | SIGNED;
export const SIGNATURE_BYTES = 16;

/** What a writer knows of an entry besides its value. */
export interface EnvelopeMeta {
  createdAt: number;
  freshUntil: number;
  staleUntil: number;
  /** The epoch token read before the computation ran ('' when the store had none). */
  epoch: string;
  etag: string | undefined;
  /** Absolute dependency keys, aligned with `tokens`. */
  deps: readonly string[];
  tokens: readonly string[];
}

export function encodeEnvelope(meta: EnvelopeMeta, value: unknown, serializer: Serializer, prefix: string): Buffer {
  return buildEnvelope(meta, serializer.encode(value), 0, prefix);
}

/**
 * The bytes of an entry around an already encoded `body` (compressed when flags say so), with
 * room for a signature at the end when flags & SIGNED (filled by the caller).
 */
export function buildEnvelope(meta: EnvelopeMeta, body: Uint8Array, flags: number, prefix: string): Buffer {
  const epoch = Buffer.from(meta.epoch, 'latin1');
  const etag = Buffer.from(meta.etag ?? '', 'utf8');
  if (epoch.length > 255 || etag.length > 255) throw new Error('epoch or etag longer than 255 bytes');
  const root = `${prefix}:`;
  const pairs = meta.deps.map((d, i) => [d.startsWith(root) ? d.slice(root.length) : d, meta.tokens[i]]);
  const deps = Buffer.from(pairs.length === 0 ? '' : JSON.stringify(pairs), 'utf8');
  const tail = flags & SIGNED ? SIGNATURE_BYTES : 0;
  const out = Buffer.allocUnsafe(FIXED + epoch.length + 1 + etag.length + 4 + deps.length + body.byteLength + tail);
  out[0] = MAGIC0;
  out[1] = MAGIC1;
  out[2] = VERSION;
  out[3] = flags;
  out.writeDoubleLE(meta.createdAt, 4);
  out.writeDoubleLE(meta.freshUntil, 12);
  out.writeDoubleLE(meta.staleUntil, 20);
  out[28] = epoch.length;
  epoch.copy(out, FIXED);
  let at = FIXED + epoch.length;
  out[at++] = etag.length;
  etag.copy(out, at);
  at += etag.length;
  out.writeUInt32LE(deps.length, at);
  at += 4;
  deps.copy(out, at);
  at += deps.length;
  out.set(body, at);
  if (tail > 0) out.fill(0, at + body.byteLength);
  return out;
}

/**
 * An entry read from bytes: the header at once, the dependency list and the value on demand.
 * A class rather than an object of closures: one is built per remote hit.
 */
export class EnvelopeView {
  readonly createdAt: number;
  readonly freshUntil: number;
  readonly staleUntil: number;
  /** Epoch the computation started under ('' when none). */
  readonly epoch: string;
  readonly etag: string | undefined;
  private parsed: { deps: string[]; tokens: string[] } | undefined;

  /** Offsets as checked by decodeEnvelope(). */
  constructor(
    private readonly buf: Buffer,
    etagAt: number,
    private readonly depsAt: number,
    private readonly valueAt: number,
  ) {
    this.createdAt = buf.readDoubleLE(4);
    this.freshUntil = buf.readDoubleLE(12);
    this.staleUntil = buf.readDoubleLE(20);
    const epochEnd = etagAt - 1;
    this.epoch = epochEnd === FIXED ? '' : buf.toString('latin1', FIXED, epochEnd);
    const etagEnd = depsAt - 4;
    this.etag = etagEnd === etagAt ? undefined : buf.toString('utf8', etagAt, etagEnd);
  }

  /** Dependency keys (absolute) and the tokens they had, parsed once. Throws on a corrupt list. */
  dependencies(prefix: string): { deps: string[]; tokens: string[] } {
    if (this.parsed !== undefined) return this.parsed;
    const deps: string[] = [];
    const tokens: string[] = [];
    if (this.valueAt !== this.depsAt) {
      const pairs: unknown = JSON.parse(this.buf.toString('utf8', this.depsAt, this.valueAt));
      if (!Array.isArray(pairs)) throw new Error('corrupt dependency list');
      for (const pair of pairs as unknown[]) {
        if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string')
          throw new Error('corrupt dependency list');
        deps.push(pair[0].startsWith('~') ? `${prefix}:${pair[0]}` : pair[0]);
        tokens.push(pair[1]);
      }
    }
    return (this.parsed = { deps, tokens });
  }

  /** `inflate` turns a compressed value section (algorithm byte first) back into the encoded value. */
  value(serializer: Serializer, inflate?: (section: Buffer) => Buffer): unknown {
    if (this.buf[3] & COMPRESSED) {
      if (inflate === undefined) throw new Error('compressed entry read without a decompressor');
      return serializer.decode(inflate(this.buf.subarray(this.valueAt)));
    }
    return serializer.decodeFrom !== undefined
      ? serializer.decodeFrom(this.buf, this.valueAt)
      : serializer.decode(this.buf.subarray(this.valueAt));
  }

  /**
   * The entry's bytes as read, signature included (the view ends before it). The signature is
   * still there: the view is a subarray of them. For a rewrite, which signs again in place.
   */
  whole(): Buffer {
    const b = this.buf;
    return b[3] & SIGNED ? Buffer.from(b.buffer, b.byteOffset, b.length + SIGNATURE_BYTES) : b;
  }

  /** The entry's flag bits (COMPRESSED, SIGNED). */
  get flags(): number {
    return this.buf[3];
  }
}

/**
 * Checks the layout and reads the header. Throws on foreign, older or truncated bytes. A signed
 * entry's signature is left out of the view: checking it is the caller's part (EntryCodec).
 */
export function decodeEnvelope(bytes: Uint8Array): EnvelopeView {
  let buf = asBuffer(bytes);
  if (buf.length < FIXED + 5 || buf[0] !== MAGIC0 || buf[1] !== MAGIC1 || buf[2] !== VERSION) {
    throw new Error('not an entry written by this version of nestjs-cache-memoize');
  }
  if ((buf[3] & ~KNOWN_FLAGS) !== 0) throw new Error(`entry flags ${buf[3]} are not understood by this version`);
  if (buf[3] & SIGNED) {
    if (buf.length < FIXED + 5 + SIGNATURE_BYTES) throw new Error('truncated envelope');
    buf = buf.subarray(0, buf.length - SIGNATURE_BYTES);
  }
  const etagAt = FIXED + buf[28] + 1;
  if (etagAt > buf.length) throw new Error('truncated envelope');
  const depsAt = etagAt + buf[etagAt - 1] + 4;
  if (depsAt > buf.length) throw new Error('truncated envelope');
  const valueAt = depsAt + buf.readUInt32LE(depsAt - 4);
  if (valueAt > buf.length) throw new Error('truncated envelope');
  return new EnvelopeView(buf, etagAt, depsAt, valueAt);
}

/**
 * Whether two stored entries are one entry retimed: equal but for their deadlines (bytes 12-28)
 * and the signature over them.
 */
export function sameEntryRetimed(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length || a.length < 28) return false;
  const x = asBuffer(a);
  const y = asBuffer(b);
  const end = x[3] & SIGNED ? x.length - SIGNATURE_BYTES : x.length;
  return x.compare(y, 0, 12, 0, 12) === 0 && x.compare(y, 28, end, 28, end) === 0;
}

/** A copy of an entry's bytes with other fresh/stale deadlines (everything else kept, value not decoded). */
export function retimed(bytes: Uint8Array, freshUntil: number, staleUntil: number): Buffer {
  const out = Buffer.from(asBuffer(bytes));
  out.writeDoubleLE(freshUntil, 12);
  out.writeDoubleLE(staleUntil, 20);
  return out;
}
