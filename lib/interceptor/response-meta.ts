/**
 * What a handler does to its response (status, headers set or removed): snapshotted before it
 * runs, diffed after, replayed on hits, and put back when its run failed.
 */
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
  removeHeader?(name: string): unknown;
}

/** Status and headers the handler set (or removed) while it ran, replayed on every hit. */
export interface ResponseMeta {
  status?: number;
  headers?: Record<string, string | string[]>;
  /** Headers a middleware set that the handler removed (`X-Frame-Options` on an embeddable widget). */
  removed?: string[];
}

/** What the response looked like before the handler ran: only later changes belong to the entry. */
export interface ResponseSnapshot {
  status: number | undefined;
  headers: Record<string, unknown>;
}

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
    (meta.headers ??= {})[name] = headerText(value);
  }
  for (const name of Object.keys(before.headers))
    if (now[name] === undefined && !NOT_REPLAYED.has(name)) (meta.removed ??= []).push(name);
  return meta.status === undefined && meta.headers === undefined && meta.removed === undefined ? undefined : meta;
}

/** Sets what the handler set on the response that produced the entry. */
export function replayMeta(adapter: HttpAdapterLike | undefined, response: HttpResponseLike, meta: ResponseMeta): void {
  try {
    if (meta.status !== undefined) {
      if (adapter !== undefined) adapter.status(response, meta.status);
      else response.statusCode = meta.status;
    }
    for (const name of meta.removed ?? []) response.removeHeader?.(name);
    const headers = meta.headers;
    if (headers === undefined) return;
    for (const name of Object.keys(headers)) setHeaderOn(adapter, response, name, headers[name]);
  } catch {
    // headers already sent: nothing to add
  }
}

/**
 * Puts the response back as it was before a failed run: what that run set (a text Content-Type,
 * an error detail) must not go out with the stale entry that stands in for it (staleIfError).
 */
export function restoreResponse(
  adapter: HttpAdapterLike | undefined,
  res: HttpResponseLike,
  before: ResponseSnapshot,
): void {
  const now = readHeaders(res);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(before.headers))
    if (!sameHeader(now[name], value)) headers[name] = headerText(value);
  const removed = Object.keys(now).filter((name) => !(name in before.headers));
  const status = res.statusCode !== before.status ? before.status : undefined;
  replayMeta(adapter, res, { status, headers, removed });
}

/**
 * The HTTP response under a GraphQL context (`res`, `reply`, or Express's `req.res`): a resolver
 * may set a header or a cookie on it, which hits could not send.
 */
export function graphqlResponse(gqlContext: unknown): HttpResponseLike | undefined {
  if (typeof gqlContext !== 'object' || gqlContext === null) return undefined;
  const c = gqlContext as { res?: unknown; reply?: unknown; req?: { res?: unknown } | null };
  for (const candidate of [c.res, c.reply, c.req?.res]) {
    if (typeof (candidate as HttpResponseLike | undefined)?.getHeaders === 'function')
      return candidate as HttpResponseLike;
  }
  return undefined;
}

/** Whether a resolver changed the status or any header (a cookie too) of its HTTP response since `before`. */
export function resolverWrote(gqlContext: unknown, before: ResponseSnapshot | undefined): boolean {
  const res = graphqlResponse(gqlContext);
  if (res === undefined || before === undefined) return false;
  if (res.statusCode !== before.status) return true;
  const now = readHeaders(res);
  for (const name of new Set([...Object.keys(now), ...Object.keys(before.headers)]))
    if (!sameHeader(now[name], before.headers[name])) return true;
  return false;
}

/** Through the adapter when there is one (adapters take arrays too: several Link headers). */
export function setHeaderOn(
  adapter: HttpAdapterLike | undefined,
  res: HttpResponseLike,
  name: string,
  value: string | string[],
): void {
  if (adapter !== undefined) adapter.setHeader(res, name, value as string);
  else res.setHeader?.(name, value as string);
}

const headerText = (value: unknown): string | string[] => (Array.isArray(value) ? value.map(String) : String(value));

export function readHeaders(res: HttpResponseLike): Record<string, unknown> {
  try {
    return res.getHeaders?.() ?? {};
  } catch {
    return {};
  }
}

export function sameHeader(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => String(x) === String(b[i]));
  return (
    a === b || (a !== undefined && b !== undefined && !Array.isArray(a) && !Array.isArray(b) && String(a) === String(b))
  );
}
