import * as zlib from 'node:zlib';
import { InvalidOptionError } from '../errors';
import type { CompressionAlgorithm, SharedEntryOptions } from '../types/store';
import { parseByteSize } from './bytes';
import { refuseStray } from './nearest';

const MIN_SECRET_LENGTH = 16;
const ALGORITHMS: readonly CompressionAlgorithm[] = ['brotli', 'gzip', 'zstd'];

export interface ParsedEntryOptions {
  secrets: Buffer[];
  threshold: number;
  algorithm: CompressionAlgorithm | undefined;
}

/** Signing and compression options, checked; every error names `where` and the option. */
export function parseEntryOptions(options: SharedEntryOptions, where: string): ParsedEntryOptions {
  const compress = options.compress === false || options.compress === undefined ? undefined : options.compress;
  if (compress !== undefined && (typeof compress !== 'object' || compress === null))
    throw new InvalidOptionError(
      `${where}: compress must be an object such as { threshold: '1kb', algorithm: 'brotli' }.`,
    );
  if (compress !== undefined) refuseStray(compress, ['threshold', 'algorithm'], where, 'compress');
  const algorithm = compress === undefined ? undefined : (compress.algorithm ?? 'brotli');
  if (algorithm !== undefined && !ALGORITHMS.includes(algorithm))
    throw new InvalidOptionError(
      `${where}: compress.algorithm must be 'brotli', 'gzip' or 'zstd', got ${JSON.stringify(algorithm)}.`,
    );
  if (algorithm === 'zstd' && typeof (zlib as { zstdCompress?: unknown }).zstdCompress !== 'function')
    throw new InvalidOptionError(
      `${where}: compress.algorithm 'zstd' needs Node 22.15 or later (this is ${process.version}); use 'brotli' or 'gzip'.`,
    );
  return {
    secrets: parseSecrets(options.secret, where),
    threshold: parseByteSize(compress?.threshold ?? '1kb', `${where}: compress.threshold`),
    algorithm,
  };
}

/** Checks the options where they are given (a store factory) and keeps only them. */
export function checkEntryOptions(options: SharedEntryOptions, where: string): SharedEntryOptions {
  parseEntryOptions(options, where);
  return { secret: options.secret, compress: options.compress };
}

function parseSecrets(secret: string | readonly string[] | undefined, where: string): Buffer[] {
  if (secret === undefined) return [];
  const list = typeof secret === 'string' ? [secret] : secret;
  if (!Array.isArray(list) || list.length === 0)
    throw new InvalidOptionError(`${where}: secret must be a string or a non-empty array of strings.`);
  return list.map((s: unknown, i) => {
    if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH)
      throw new InvalidOptionError(
        `${where}: secret${list.length > 1 ? `[${i}]` : ''} must be a string of at least ${MIN_SECRET_LENGTH} characters ` +
          `(generate one with \`openssl rand -base64 32\`), got ${typeof s === 'string' ? `${s.length} characters` : typeof s}.`,
      );
    return Buffer.from(s, 'utf8');
  });
}
