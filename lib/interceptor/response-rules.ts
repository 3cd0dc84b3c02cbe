import { type ExecutionContext, HttpException } from '@nestjs/common';
import type { HttpAdapterLike } from '../types/request';

/** Express response or Fastify reply: both have these. */
export interface HttpResponseLike {
  statusCode?: number;
  headersSent?: boolean;
  /** Fastify: the Node response under the reply. */
  raw?: { headersSent?: boolean };
  getHeader?(name: string): unknown;
  getHeaders?(): Record<string, unknown>;
  setHeader?(name: string, value: string): unknown;
}

/** Status and headers the handler set while it ran, replayed on every hit. */
export interface ResponseMeta {
  status?: number;
  headers?: Record<string, string | string[]>;
}

/** What the response looked like before the handler ran: only later changes belong to the entry. */
export interface ResponseSnapshot {
  status: number | undefined;
  headers: Record<string, unknown>;
}

const HTTP_CODE_METADATA = '__httpCode__';
const HEADERS_METADATA = '__headers__';
/** Never replayed: per-connection, per-response or the cache's own. */
const NOT_REPLAYED = new Set([
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'set-cookie',
  'x-cache',
  'x-cache-key',
  'age',
]);
/** Statuses whose body is a full, reusable answer: 2xx except 206 (partial), and redirects. 304 never. */
const CACHEABLE_STATUS = (code: number) =>
  (code >= 200 && code < 300 && code !== 206) || [300, 301, 302, 303, 307, 308].includes(code);

export function snapshotResponse(res: HttpResponseLike): ResponseSnapshot {
  return { status: res.statusCode, headers: { ...readHeaders(res) } };
}

/** The status and headers the handler (or an interceptor inside this one) set, as a diff. */
export function capturedMeta(res: HttpResponseLike, before: ResponseSnapshot): ResponseMeta | undefined {
  const meta: ResponseMeta = {};
  if (res.statusCode !== undefined && res.statusCode !== before.status) meta.status = res.statusCode;
  const now = readHeaders(res);
  for (const name of Object.keys(now)) {
    if (NOT_REPLAYED.has(name)) continue;
    const value = now[name];
    if (value === undefined || sameHeader(value, before.headers[name])) continue;
    (meta.headers ??= {})[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return meta.status === undefined && meta.headers === undefined ? undefined : meta;
}

/** Sets what the handler set on the response that produced the entry. */
export function replayMeta(adapter: HttpAdapterLike | undefined, response: HttpResponseLike, meta: ResponseMeta): void {
  try {
    if (meta.status !== undefined) {
      if (adapter !== undefined) adapter.status(response, meta.status);
      else response.statusCode = meta.status;
    }
    const headers = meta.headers;
    if (headers === undefined) return;
    for (const name of Object.keys(headers)) {
      const text = headers[name] as string; // adapters take arrays too (several Link headers)
      if (adapter !== undefined) adapter.setHeader(response, name, text);
      else response.setHeader?.(name, text);
    }
  } catch {
    // headers already sent: nothing to add
  }
}

/**
 * Responses that must not be shared: error and partial statuses, Set-Cookie, private/no-store,
 * headers already sent (a streaming handler), and a runtime Vary naming request headers the key
 * does not include.
 */
export function isUncacheableHttpResponse(
  context: ExecutionContext,
  res: HttpResponseLike,
  before: ResponseSnapshot | undefined,
  keyedVary: readonly string[] | undefined,
): boolean {
  const handler = context.getHandler();
  const code = Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined;
  if (code !== undefined && !CACHEABLE_STATUS(code)) return true;
  if (res.statusCode !== undefined && !CACHEABLE_STATUS(res.statusCode)) return true;
  if (res.headersSent === true || res.raw?.headersSent === true) return true;
  if (res.getHeader?.('set-cookie') !== undefined) return true;
  const declared =
    (Reflect.getMetadata(HEADERS_METADATA, handler) as Array<{ name: string; value: string }> | undefined) ?? [];
  if (declared.some((h) => h.name.toLowerCase() === 'set-cookie')) return true;
  const cacheControl = [
    String(res.getHeader?.('cache-control') ?? ''),
    ...declared.filter((h) => h.name.toLowerCase() === 'cache-control').map((h) => h.value),
  ];
  if (cacheControl.some((v) => /\b(private|no-store)\b/i.test(v))) return true;
  return varyAddsUnkeyed(res.getHeader?.('vary'), before?.headers.vary, keyedVary);
}

/**
 * Cookies some middleware writes only as the headers go out (express-session wraps `writeHead`,
 * @fastify/cookie's onSend runs just before it): the entry is confirmed once the response's
 * headers are written, when no Set-Cookie can be added any more — not when its body has been
 * read, which a slow or stalled client could put off for everyone waiting on the entry. False
 * when the headers were not written in time, the response closed before them, or they carried
 * Set-Cookie.
 */
export function headersWithoutCookie(res: HttpResponseLike, timeoutMs: number): Promise<boolean> {
  const node = (res.raw ?? res) as NodeResponseLike;
  const check = () => res.getHeader?.('set-cookie') === undefined;
  if (node.headersSent === true) return Promise.resolve(check());
  // Closed already (the client left during the computation): Node will write nothing, so nothing confirms it.
  if (typeof node.writeHead !== 'function' || node.destroyed === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const writeHead = node.writeHead!;
    const own = Object.prototype.hasOwnProperty.call(node, 'writeHead');
    let settled = false;
    const done = (written: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (node.writeHead === wrapped) {
        if (own) node.writeHead = writeHead;
        else delete node.writeHead;
      }
      resolve(written && check());
    };
    // Outermost: a wrapper installed earlier (express-session's) has added its cookie when this returns.
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      const result = writeHead.apply(this, args);
      done(true);
      return result;
    };
    node.writeHead = wrapped;
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref?.();
    // Closed before the headers (the client left): none will be written.
    node.once?.('close', () => done(node.headersSent === true));
  });
}

interface NodeResponseLike {
  headersSent?: boolean;
  destroyed?: boolean;
  writeHead?: (...args: unknown[]) => unknown;
  once?(event: string, listener: () => void): unknown;
}

/** A Vary the handler added at runtime that names headers the key does not include. */
function varyAddsUnkeyed(now: unknown, before: unknown, keyed: readonly string[] | undefined): boolean {
  if (now === undefined || sameHeader(now, before)) return false;
  const earlier = new Set(varyNames(before));
  const inKey = new Set(keyed ?? []);
  return varyNames(now).some((name) => !earlier.has(name) && (name === '*' || !inKey.has(name)));
}

function varyNames(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

function readHeaders(res: HttpResponseLike): Record<string, unknown> {
  try {
    return res.getHeaders?.() ?? {};
  } catch {
    return {};
  }
}

function sameHeader(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => String(x) === String(b[i]));
  return (
    a === b || (a !== undefined && b !== undefined && !Array.isArray(a) && !Array.isArray(b) && String(a) === String(b))
  );
}

/** A Node stream, a web ReadableStream or a fetch Response: read once, never stored. */
export function isStream(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { pipe?: unknown; getReader?: unknown };
  return (
    typeof v.pipe === 'function' ||
    typeof v.getReader === 'function' ||
    Object.prototype.toString.call(value) === '[object Response]'
  );
}

/**
 * A result that is an Error, or a list holding one (DataLoader.loadMany reports a failed item in its
 * slot): a failure, never cached on any store (a thrown one never is), or it is replayed for the ttl.
 */
export function carriesError(values: readonly unknown[]): boolean {
  return values.some((v) => v instanceof Error || (Array.isArray(v) && v.some((item) => item instanceof Error)));
}

/**
 * A handler's error that a stale response may stand in for: a failure, not an answer — not an
 * HTTP status below 500 (404, 403...), an `RpcException` or a `GraphQLError` (their handlers'
 * ways of answering "not found" or "forbidden"; recognized by name: both packages are optional).
 */
export function staleStandsInFor(error: unknown): boolean {
  if (error instanceof HttpException) return error.getStatus() >= 500;
  if (typeof error !== 'object' || error === null) return true;
  for (let p: object | null = Object.getPrototypeOf(error); p !== null; p = Object.getPrototypeOf(p)) {
    const name: unknown = (p as { constructor?: { name?: unknown } }).constructor?.name;
    if (name === 'RpcException' || name === 'GraphQLError') return false;
  }
  return true;
}
