import { InvalidOptionError } from '../errors';

/** A Buffer view over any byte view, without copying (a Buffer is returned as is). */
export function asBuffer(bytes: ArrayBufferView): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A size: bytes (a number or numeric string), or a string such as '512b', '1kb', '2mb' (1kb = 1024 bytes). */
export type ByteSize = number | `${number}` | `${number}${ByteUnit}` | `${number} ${ByteUnit}`;
export type ByteUnit = 'b' | 'kb' | 'mb' | 'gb';

const BYTE_UNITS: Record<ByteUnit, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Parses a size to whole bytes; `where` names the option for the error. */
export function parseByteSize(value: unknown, where: string): number {
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value) : undefined;
  const bytes =
    typeof value === 'number' ? value : m ? Number(m[1]) * BYTE_UNITS[(m[2] ?? 'b').toLowerCase() as ByteUnit] : NaN;
  if (!Number.isFinite(bytes) || bytes < 0) {
    throw new InvalidOptionError(
      `${where}: expected a size in bytes (1024) or a string like '512b', '1kb', '2mb', got ${JSON.stringify(value)}.`,
    );
  }
  return Math.ceil(bytes);
}
