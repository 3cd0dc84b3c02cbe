import { createHmac, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Serializer } from '../types/serializer';
import type { CompressionAlgorithm, SharedEntryOptions } from '../types/store';
import { asBuffer } from '../util/bytes';
import { parseEntryOptions } from '../util/entry-options';
import {
  buildEnvelope,
  COMPRESSED,
  decodeEnvelope,
  retimed,
  SIGNATURE_BYTES,
  SIGNED,
  type EnvelopeMeta,
  type EnvelopeView,
} from './envelope';
import { MAX_ENCODED_BYTES } from './tagged-format';

export type EntryCodecOptions = SharedEntryOptions;

/** Why an entry was refused: it carries no signature, or one no configured secret made. */
export class UnverifiedEntryError extends Error {
  constructor(readonly reason: 'unsigned' | 'signature') {
    super(reason === 'unsigned' ? 'entry is not signed' : 'entry signature does not verify');
  }
}

/**
 * A decompressed value larger than this is refused (a compressed entry must not explode memory);
 * the default codec encodes nothing larger, and a larger body is never compressed.
 */
const MAX_INFLATED = MAX_ENCODED_BYTES;
const ALGORITHM_IDS: Record<CompressionAlgorithm, number> = { gzip: 1, brotli: 2, zstd: 3 };

type ZstdZlib = {
  zstdCompress?: (buf: Buffer, cb: (e: Error | null, out: Buffer) => void) => void;
  zstdDecompressSync?: (buf: Buffer, opts: object) => Buffer;
};
const zstd = zlib as unknown as ZstdZlib;
const gzip = promisify(zlib.gzip);
const brotli = promisify(zlib.brotliCompress);
const BROTLI_FAST = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } };

/**
 * Entry bytes for one shared store: the envelope, compressed above a threshold and signed with
 * an HMAC over the store key and the bytes when secrets are set. Binding the key means a valid
 * entry copied under another key (another user's, another tenant's) does not verify either.
 */
export class EntryCodec {
  private readonly secrets: readonly Buffer[];
  private readonly threshold: number;
  private readonly algorithm: CompressionAlgorithm | undefined;

  constructor(
    readonly serializer: Serializer,
    private readonly prefix: string,
    options: EntryCodecOptions = {},
    where = 'CacheMemoizeModule',
  ) {
    ({
      secrets: this.secrets,
      threshold: this.threshold,
      algorithm: this.algorithm,
    } = parseEntryOptions(options, where));
  }

  get signs(): boolean {
    return this.secrets.length > 0;
  }

  /** The entry's bytes. Async only when it compresses (off the event loop, in libuv's pool). */
  encode(key: string, meta: EnvelopeMeta, value: unknown): Buffer | Promise<Buffer> {
    return this.encodeBody(key, meta, this.body(value));
  }

  /** The value's bytes, taken now: what the caller does with the value afterwards is not stored. */
  body(value: unknown): Uint8Array {
    return this.serializer.encode(value);
  }

  /** An entry around a body from `body()`. */
  encodeBody(key: string, meta: EnvelopeMeta, body: Uint8Array): Buffer | Promise<Buffer> {
    if (this.algorithm === undefined || body.byteLength <= this.threshold || body.byteLength > MAX_INFLATED)
      return this.build(key, meta, body, 0);
    return this.deflate(body).then((packed) =>
      packed === undefined ? this.build(key, meta, body, 0) : this.build(key, meta, packed, COMPRESSED),
    );
  }

  /** Header of an entry read back; throws UnverifiedEntryError when secrets are set and it does not verify. */
  decode(key: string, bytes: Uint8Array): EnvelopeView {
    if (this.secrets.length > 0) this.verify(key, asBuffer(bytes));
    return decodeEnvelope(bytes);
  }

  /** The value of a decoded entry (decompressed when it was compressed). */
  value(view: EnvelopeView): unknown {
    return view.value(this.serializer, inflate);
  }

  /** A copy with other deadlines, signed again (or its signature dropped when this app has no secret). */
  retime(key: string, bytes: Uint8Array, freshUntil: number, staleUntil: number): Buffer {
    const out = retimed(bytes, freshUntil, staleUntil);
    if (!(out[3] & SIGNED)) return out;
    if (this.secrets.length > 0) {
      this.sign(key, out);
      return out;
    }
    out[3] &= ~SIGNED;
    return out.subarray(0, out.length - SIGNATURE_BYTES);
  }

  private build(key: string, meta: EnvelopeMeta, body: Uint8Array, flags: number): Buffer {
    if (this.secrets.length === 0) return buildEnvelope(meta, body, flags, this.prefix);
    const out = buildEnvelope(meta, body, flags | SIGNED, this.prefix);
    this.sign(key, out);
    return out;
  }

  private async deflate(body: Uint8Array): Promise<Buffer | undefined> {
    const input = asBuffer(body);
    const packed =
      this.algorithm === 'gzip'
        ? await gzip(input)
        : this.algorithm === 'zstd'
          ? await promisify(zstd.zstdCompress!)(input)
          : await brotli(input, BROTLI_FAST);
    if (packed.length + 1 >= input.length) return undefined; // incompressible: stored as is
    const out = Buffer.allocUnsafe(packed.length + 1);
    out[0] = ALGORITHM_IDS[this.algorithm!];
    packed.copy(out, 1);
    return out;
  }

  /** Writes the signature into the last 16 bytes (made by the first secret). */
  private sign(key: string, out: Buffer): void {
    mac(this.secrets[0], key, out.subarray(0, out.length - SIGNATURE_BYTES)).copy(out, out.length - SIGNATURE_BYTES);
  }

  private verify(key: string, buf: Buffer): void {
    if (buf.length < 4 + SIGNATURE_BYTES || !(buf[3] & SIGNED)) throw new UnverifiedEntryError('unsigned');
    const signed = buf.subarray(0, buf.length - SIGNATURE_BYTES);
    const given = buf.subarray(buf.length - SIGNATURE_BYTES);
    for (const secret of this.secrets) if (timingSafeEqual(mac(secret, key, signed), given)) return;
    throw new UnverifiedEntryError('signature');
  }
}

/** HMAC-SHA256 over the key (length-prefixed, so key and bytes cannot be shifted into each other) and the bytes, truncated to 16 bytes. */
function mac(secret: Buffer, key: string, bytes: Buffer): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(keyBytes.length, 0);
  return createHmac('sha256', secret)
    .update(length)
    .update(keyBytes)
    .update(bytes)
    .digest()
    .subarray(0, SIGNATURE_BYTES);
}

function inflate(section: Buffer): Buffer {
  const packed = section.subarray(1);
  const opts = { maxOutputLength: MAX_INFLATED };
  switch (section[0]) {
    case ALGORITHM_IDS.gzip:
      return zlib.gunzipSync(packed, opts);
    case ALGORITHM_IDS.brotli:
      return zlib.brotliDecompressSync(packed, opts);
    case ALGORITHM_IDS.zstd:
      if (zstd.zstdDecompressSync === undefined)
        throw new Error(`entry compressed with zstd, which Node ${process.version} cannot decompress`);
      return zstd.zstdDecompressSync(packed, opts);
    default:
      throw new Error(`entry compressed with an unknown algorithm (${section[0]})`);
  }
}
