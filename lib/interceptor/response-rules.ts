import { type ExecutionContext, HttpException } from '@nestjs/common';
import type { HttpResponseLike, ResponseSnapshot } from './response-meta';

const HTTP_CODE_METADATA = '__httpCode__';
const HEADERS_METADATA = '__headers__';
/** Statuses whose body is a full, reusable answer: 2xx except 206 (partial), and redirects. 304 never. */
const CACHEABLE_STATUS = (code: number) =>
  (code >= 200 && code < 300 && code !== 206) || [300, 301, 302, 303, 307, 308].includes(code);

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

/** How long an entry waits for its response's headers (so a late Set-Cookie is seen) before it is dropped. */
const HEADERS_WAIT_MS = 5_000;

/**
 * Cookies some middleware writes only as the headers go out (express-session wraps `writeHead`,
 * @fastify/cookie's onSend runs just before it): the entry is confirmed once the response's
 * headers are written, when no Set-Cookie can be added any more — not when its body has been
 * read, which a slow or stalled client could put off for everyone waiting on the entry. False
 * when the headers were not written in time, the response closed before them, or they carried
 * Set-Cookie.
 */
export function headersWithoutCookie(res: HttpResponseLike): Promise<boolean> {
  const node = (res.raw ?? res) as NodeResponseLike;
  const check = () => res.getHeader?.('set-cookie') === undefined;
  if (node.headersSent === true) return Promise.resolve(check());
  // Closed already (the client left during the computation): Node will write nothing, so nothing confirms it.
  if (typeof node.writeHead !== 'function' || node.destroyed === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (written: boolean) => {
      clearTimeout(timer);
      unwatch();
      resolve(written && check());
    };
    const unwatch = watchHeaders(node, done);
    const timer = setTimeout(() => done(false), HEADERS_WAIT_MS);
    timer.unref?.();
  });
}

/** Per response, what waits for its headers: one writeHead wrapper and one 'close' listener for all. */
interface HeaderWatch {
  readonly listeners: Set<(written: boolean) => void>;
  readonly stop: () => void;
}
const watching = new WeakMap<NodeResponseLike, HeaderWatch>();

/**
 * Calls `listener` once the response's headers are written (true) or it closed first (whether
 * they were). Shared by every entry waiting on one response — a GraphQL list of cached fields has
 * one per item, and a 'close' listener each passed Node's limit of ten. Returns: stop waiting.
 */
function watchHeaders(node: NodeResponseLike, listener: (written: boolean) => void): () => void {
  const watch = watching.get(node) ?? startWatch(node);
  watch.listeners.add(listener);
  return () => {
    watch.listeners.delete(listener);
    if (watch.listeners.size === 0) watch.stop(); // every entry gave up waiting: take the wrapper off
  };
}

function startWatch(node: NodeResponseLike): HeaderWatch {
  const writeHead = node.writeHead!;
  const own = Object.prototype.hasOwnProperty.call(node, 'writeHead');
  const listeners = new Set<(written: boolean) => void>();
  const stop = () => {
    if (watching.get(node) === watch) watching.delete(node);
    if (node.writeHead !== wrapped) return;
    if (own) node.writeHead = writeHead;
    else delete node.writeHead;
  };
  const watch: HeaderWatch = { listeners, stop };
  const finish = (written: boolean) => {
    if (watching.get(node) !== watch) return;
    stop();
    for (const each of [...listeners]) each(written);
  };
  // Outermost: a wrapper installed earlier (express-session's) has added its cookie when this returns.
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const result = writeHead.apply(this, args);
    finish(true);
    return result;
  };
  node.writeHead = wrapped;
  // Closed before the headers (the client left): none will be written.
  node.once?.('close', () => finish(node.headersSent === true));
  watching.set(node, watch);
  return watch;
}

interface NodeResponseLike {
  headersSent?: boolean;
  destroyed?: boolean;
  writeHead?: (...args: unknown[]) => unknown;
  once?(event: string, listener: () => void): unknown;
}

/**
 * Request headers a middleware names in Vary for what it sets itself on every response, hits
 * included (CORS's Access-Control-Allow-Origin, compression's encoding): a Vary on them that was
 * there before the handler ran says nothing about the body.
 */
const MIDDLEWARE_VARY = new Set([
  'origin',
  'accept-encoding',
  'access-control-request-method',
  'access-control-request-headers',
]);

/**
 * A Vary naming request headers the key does not include: set by the handler, or by a middleware
 * before it (a tenant middleware's `Vary: X-Tenant-Id` says the body differs per tenant), except
 * a middleware's Vary on the headers above.
 */
function varyAddsUnkeyed(now: unknown, before: unknown, keyed: readonly string[] | undefined): boolean {
  if (now === undefined) return false;
  const earlier = new Set(varyNames(before));
  const inKey = new Set(keyed ?? []);
  return varyNames(now).some(
    (name) => name === '*' || (!inKey.has(name) && !(earlier.has(name) && MIDDLEWARE_VARY.has(name))),
  );
}

function varyNames(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
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
