import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';

/** Express response or Fastify reply: both have these. */
export interface HttpResponseLike {
  statusCode?: number;
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
const NOT_REPLAYED = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'set-cookie', 'x-cache', 'x-cache-key', 'age']);

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

/**
 * Error statuses, Set-Cookie, private/no-store responses, and responses whose runtime Vary names
 * request headers the route did not declare (the entry would be keyed without them) are never shared.
 */
export function isUncacheableHttpResponse(
  reflector: Reflector,
  context: ExecutionContext,
  res: HttpResponseLike,
  before: ResponseSnapshot | undefined,
  declaredVary: readonly string[] | undefined,
): boolean {
  const code = reflector.get<number | undefined>(HTTP_CODE_METADATA, context.getHandler());
  if ((code ?? 200) >= 400) return true;
  if ((res.statusCode ?? 200) >= 400) return true;
  if (res.getHeader?.('set-cookie') !== undefined) return true;
  const declared = reflector.get<Array<{ name: string; value: string }> | undefined>(HEADERS_METADATA, context.getHandler()) ?? [];
  if (declared.some((h) => h.name.toLowerCase() === 'set-cookie')) return true;
  const cacheControl = [String(res.getHeader?.('cache-control') ?? ''), ...declared.filter((h) => h.name.toLowerCase() === 'cache-control').map((h) => h.value)];
  if (cacheControl.some((v) => /\b(private|no-store)\b/i.test(v))) return true;
  return varyAddsUndeclared(res.getHeader?.('vary'), before?.headers.vary, declaredVary);
}

/** A Vary the handler added at runtime that names headers the key does not include. */
function varyAddsUndeclared(now: unknown, before: unknown, declared: readonly string[] | undefined): boolean {
  if (now === undefined || sameHeader(now, before)) return false;
  const earlier = new Set(varyNames(before));
  const keyed = new Set((declared ?? []).map((h) => h.toLowerCase()));
  return varyNames(now).some((name) => !earlier.has(name) && (name === '*' || !keyed.has(name)));
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
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => String(x) === String(b[i]));
  return a === b || (a !== undefined && b !== undefined && !Array.isArray(a) && !Array.isArray(b) && String(a) === String(b));
}
