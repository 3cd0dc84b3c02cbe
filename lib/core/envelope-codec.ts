import type { Serializer } from '../serialization/serializer.interface';
import type { Envelope } from './envelope';
import { asBuffer } from '../serialization/bytes';

/**
 * Byte layout of an envelope in a shared store. The metadata sits in a fixed binary header so a
 * hit can decide freshness (expiry, epoch) without parsing the tag list, and the value is decoded
 * by the serializer only once the entry is known to be fresh.
 *
 *   'C' 'M' 2 | f64 c | f64 e | f64 s | u8 epochLength | epoch | u8 etagLength | etag | u32 tagsLength | tags (JSON) | value
 */
const MAGIC = [0x43, 0x4d, 0x02];
const FIXED = 3 + 8 * 3 + 1;

export function encodeEnvelope(env: Envelope, serializer: Serializer): Buffer {
  const epoch = Buffer.from(env.p ?? '', 'latin1');
  const etag = Buffer.from(env.g ?? '', 'utf8');
  if (epoch.length > 255 || etag.length > 255) throw new Error('epoch or etag longer than 255 bytes');
  const tags = Buffer.from(env.t.length === 0 ? '' : JSON.stringify(env.t), 'utf8');
  const value = serializer.encode(env.v);
  const out = Buffer.allocUnsafe(FIXED + epoch.length + 1 + etag.length + 4 + tags.length + value.byteLength);
  out[0] = MAGIC[0];
  out[1] = MAGIC[1];
  out[2] = MAGIC[2];
  out.writeDoubleLE(env.c, 3);
  out.writeDoubleLE(env.e, 11);
  out.writeDoubleLE(env.s, 19);
  out[27] = epoch.length;
  epoch.copy(out, FIXED);
  let at = FIXED + epoch.length;
  out[at++] = etag.length;
  etag.copy(out, at);
  at += etag.length;
  out.writeUInt32LE(tags.length, at);
  at += 4;
  tags.copy(out, at);
  at += tags.length;
  out.set(value, at);
  return out;
}

/**
 * An envelope read from bytes: the header fields at once, the tag list and the value on demand.
 * A class rather than an object of closures: one is built per remote hit.
 */
export class EnvelopeView {
  readonly c: number;
  readonly e: number;
  readonly s: number;
  /** Invalidation epoch the entry was written under ('' when none). */
  readonly p: string;
  readonly g: string | undefined;
  private parsedTags: readonly string[] | undefined;

  /** Offsets as checked by decodeEnvelope(). */
  constructor(
    private readonly buf: Buffer,
    etagAt: number,
    private readonly tagsAt: number,
    private readonly valueAt: number,
  ) {
    this.c = buf.readDoubleLE(3);
    this.e = buf.readDoubleLE(11);
    this.s = buf.readDoubleLE(19);
    const epochEnd = etagAt - 1;
    this.p = epochEnd === FIXED ? '' : buf.toString('latin1', FIXED, epochEnd);
    const etagEnd = tagsAt - 4;
    this.g = etagEnd === etagAt ? undefined : buf.toString('utf8', etagAt, etagEnd);
  }

  /** The tag list, parsed once (the freshness check and the L1 fill may both need it). */
  tags(): readonly string[] {
    if (this.parsedTags !== undefined) return this.parsedTags;
    if (this.valueAt === this.tagsAt) return (this.parsedTags = []);
    const tags: unknown = JSON.parse(this.buf.toString('utf8', this.tagsAt, this.valueAt));
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new Error('corrupt tag list');
    return (this.parsedTags = tags as string[]);
  }

  value(serializer: Serializer): unknown {
    return serializer.decodeFrom !== undefined ? serializer.decodeFrom(this.buf, this.valueAt) : serializer.decode(this.buf.subarray(this.valueAt));
  }
}

/** Checks the layout and reads the header. Throws on foreign or truncated bytes. */
export function decodeEnvelope(bytes: Uint8Array): EnvelopeView {
  const buf = asBuffer(bytes);
  if (buf.length < FIXED + 4 || buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1] || buf[2] !== MAGIC[2]) {
    throw new Error('not an envelope written by nestjs-cache-memoize');
  }
  const etagAt = FIXED + buf[27] + 1;
  if (etagAt > buf.length) throw new Error('truncated envelope');
  const tagsAt = etagAt + buf[etagAt - 1] + 4;
  if (tagsAt > buf.length) throw new Error('truncated envelope');
  const valueAt = tagsAt + buf.readUInt32LE(tagsAt - 4);
  if (valueAt > buf.length) throw new Error('truncated envelope');
  return new EnvelopeView(buf, etagAt, tagsAt, valueAt);
}
