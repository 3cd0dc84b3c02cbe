import { createHash } from 'node:crypto';
import type { HttpAdapterLike } from '../types/request';
import { setHeaderOn, type HttpResponseLike } from './response-meta';

/** What a stored response carries for conditional requests and `Age`. */
export interface Validators {
  /** A strong ETag computed once when the entry is stored (absent when the handler set its own). */
  etag?: string;
  /** When the entry was stored (ms since the epoch): hits answer `Age`. */
  storedAt?: number;
}

/**
 * Fastify requests whose cached response matched their If-None-Match: the module's onSend hook
 * answers them 304 (Express does it itself from the ETag header). A WeakSet: no property is added
 * to the framework's request objects.
 */
export const notModified = new WeakSet<object>();

/** A strong ETag for a single JSON, string or byte body (`json`: the body's JSON, when already known); undefined for anything else. */
export function strongEtag(
  values: readonly unknown[],
  headers: Record<string, unknown> | undefined,
  json?: string,
): string | undefined {
  if (values.length !== 1) return undefined;
  if (headers !== undefined && Object.keys(headers).some((h) => h.toLowerCase() === 'etag')) return undefined;
  const body = values[0];
  let bytes: string | Uint8Array;
  if (json !== undefined) bytes = json;
  else if (typeof body === 'string' || body instanceof Uint8Array) bytes = body;
  else {
    try {
      const text = JSON.stringify(body);
      if (text === undefined) return undefined;
      bytes = text;
    } catch {
      return undefined;
    }
  }
  return `"${createHash('sha1').update(bytes).digest('base64url')}"`;
}

/** Request headers a conditional answer reads. */
export interface ConditionalHeaders {
  'if-none-match'?: unknown;
  'cache-control'?: unknown;
}

const NO_CACHE = /(?:^|,)\s*no-cache\s*(?:,|$)/i;

/**
 * If-None-Match against an ETag (weak comparison, as RFC 9110 prescribes for GET and HEAD). A
 * request's `Cache-Control: no-cache` (a browser's reload) always gets the full body, as Express's
 * `fresh` decides: both adapters answer alike.
 */
export function etagMatches(headers: ConditionalHeaders, etag: string): boolean {
  const ifNoneMatch = headers['if-none-match'];
  if (typeof ifNoneMatch !== 'string' || ifNoneMatch === '') return false;
  const cacheControl = headers['cache-control'];
  if (typeof cacheControl === 'string' && NO_CACHE.test(cacheControl)) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === bare);
}

/**
 * On a response served from the cache: its ETag and Age, and — on Fastify, which has no
 * conditional GET of its own — the mark that makes the module's hook answer 304.
 */
export function applyValidators(
  adapter: HttpAdapterLike | undefined,
  response: HttpResponseLike,
  rawRequest: object,
  headers: ConditionalHeaders,
  entry: Validators,
  fastify: boolean,
  handlerEtag: unknown,
): void {
  try {
    if (entry.storedAt !== undefined)
      setHeaderOn(adapter, response, 'Age', String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000))));
    // The handler's own ETag (replayed with its headers) is answered 304 as Express answers it.
    if (fastify && typeof handlerEtag === 'string' && etagMatches(headers, handlerEtag)) notModified.add(rawRequest);
    if (entry.etag === undefined) return;
    setHeaderOn(adapter, response, 'ETag', entry.etag);
    if (fastify && etagMatches(headers, entry.etag)) notModified.add(rawRequest);
  } catch {
    // headers already sent: nothing to add
  }
}
