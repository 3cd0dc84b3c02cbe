import { createHash } from 'node:crypto';
import { encodeValue } from '../keys/key-encoder';
import type { CacheMemoizeOptions } from '../types/options';
import type { CacheRequest } from '../types/request';
import type { HttpRequestLike } from './describe-request';
import { unseenCredentials } from './graphql-socket';
import { IDENTITY_UNREAD, varyReadingIdentity } from './identity-reads';

type AnyOptions = CacheMemoizeOptions<readonly unknown[], unknown>;

/** Who a request is, as far as sharing goes: the credential headers it carries, and whether a guard set a user. */
export interface RequestIdentity {
  credentials: readonly string[];
  user: boolean;
}

const ANONYMOUS: RequestIdentity = Object.freeze({ credentials: Object.freeze([]), user: false });

export function identify(request: CacheRequest, privateHeaders: readonly string[]): RequestIdentity {
  let credentials: string[] | undefined;
  for (const name of privateHeaders) {
    const value = request.headers[name];
    if (value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0))
      (credentials ??= []).push(name);
  }
  // Connection params (graphql-ws) are credentials whatever their names; a request whose
  // authentication the cache cannot see is private, as if a guard had set a user.
  const unseen = unseenCredentials(request);
  if (unseen !== undefined)
    for (const name of unseen.credentials) if (!credentials?.includes(name)) (credentials ??= []).push(name);
  const user = (request.user !== undefined && request.user !== null) || unseen?.opaque === true;
  return credentials === undefined && !user ? ANONYMOUS : { credentials: credentials ?? [], user };
}

/**
 * The private-by-default rule, the same for every transport: an identified request (credentials,
 * or a user set by a guard) may share an entry only when the route declares a vary function
 * (taken as the identity), declares vary headers that cover every credential it carries, or is
 * public. Anything else is served uncached.
 */
function mayCache(identity: RequestIdentity, options: AnyOptions, varyHeaders: readonly string[] | undefined): boolean {
  if (identity.credentials.length === 0 && !identity.user) return true;
  if (options.public === true || typeof options.vary === 'function') return true;
  if (varyHeaders === undefined || identity.credentials.length === 0) return false;
  return identity.credentials.every((c) => varyHeaders.includes(c));
}

/** Why an identified request is not cached on a route whose vary does not name who it is (found by a new user: silent). */
export const UNSHARED =
  'a request identified by a credential header or req.user is never shared, and its vary does not say who it is. ' +
  'Add vary: (req) => req.user.sub (one entry per user), list every credential header in vary, or declare ' +
  'public: true for data that is the same for everyone. Expected if only anonymous requests are meant to be cached.';

/**
 * Undefined: no vary; a string: why an identified request may not be cached (its route's vary
 * does not say who it is, or its vary function names no one).
 */
export function varyValue(
  request: CacheRequest,
  options: AnyOptions,
  varyHeaders: readonly string[] | undefined,
  identity: RequestIdentity,
): unknown {
  if (!mayCache(identity, options, varyHeaders)) return UNSHARED;
  const vary = options.vary as ((request: CacheRequest) => unknown) | readonly string[] | undefined;
  if (typeof vary === 'function') {
    if (options.public === true || (identity.credentials.length === 0 && !identity.user)) return { by: vary(request) };
    // Only the credentials this request carries name it, all of them: `req.headers['x-api-key'] ??
    // 'web'` on a Bearer request is 'web' for everyone, and an app's shared key beside a user's
    // token names the app (reviews).
    const { by, readIdentity } = varyReadingIdentity(request, identity.credentials, vary);
    if (!readIdentity) return IDENTITY_UNREAD;
    // `(req) => req.user.id` on a user object without `id`, or `({ id: req.user.id })`: one entry
    // for every user. Not cached.
    return lacksIdentity(by) ? NO_IDENTITY : { by };
  }
  if (varyHeaders === undefined) return undefined;
  const headers: Record<string, string | null> = {};
  for (const name of varyHeaders) {
    const value = request.headers[name.toLowerCase()];
    headers[name.toLowerCase()] =
      value === undefined ? null : hashHeader(Array.isArray(value) ? value.join(',') : value);
  }
  return { headers };
}

/** Why an identified request whose vary function names no one is served uncached. */
export const NO_IDENTITY =
  "its vary function named no one for a request identified by a credential or req.user (undefined, null, '', " +
  "'undefined', NaN, a string built around one such as 'user:undefined', or an object or array with an undefined " +
  'part): it is never shared. Expected for requests without that identity; otherwise read the field the guard ' +
  'sets (req.user.sub, not req.user.id?).';

/** Not an identity: absent, or what String() or Number() make of absent (`${req.user.id}`, `${req.user}`). */
const missing = (value: unknown): boolean =>
  value === undefined || value === null || value === '' || spellsMissing(value) || Number.isNaN(value);

/**
 * What String() makes of absent, as a word of a string: `'user:' + req.user.id` is
 * `'user:undefined'`. `null` is a value in JSON (`JSON.stringify(req.user)` of a row with a null
 * column), so only counts in a string that is not a JSON object or array.
 */
const MISSING_WORD = /(?:^|[^A-Za-z0-9])(?:undefined|NaN)(?:$|[^A-Za-z0-9])|\[object Object\]/;
const NULL_WORD = /(?:^|[^A-Za-z0-9])null(?:$|[^A-Za-z0-9])/;
const spellsMissing = (value: unknown): boolean =>
  typeof value === 'string' &&
  (MISSING_WORD.test(value) || (value[0] !== '{' && value[0] !== '[' && NULL_WORD.test(value)));

/**
 * A vary result that names no one: missing; an array or plain object whose parts are all missing
 * (or that has none); or one holding an undefined part, down to four levels (undefined drops out
 * of keys, so `{ id: undefined }` is `{}` for every user), or a string spelling one
 * (`['t1', 'user:' + req.user.id]`). A null or '' beside a present part (a user row's
 * `avatarUrl: null`) is a value. Class instances are taken as they are. A real id spelled with
 * the word `null` is served uncached: a lost identity shared by everyone would be worse.
 */
export function lacksIdentity(by: unknown): boolean {
  if (missing(by)) return true;
  const parts = partsOf(by);
  return parts !== undefined && (parts.every(missing) || holdsUndefined(parts, 4));
}

function holdsUndefined(parts: readonly unknown[], depth: number): boolean {
  return parts.some((part) => {
    if (part === undefined || spellsMissing(part) || Number.isNaN(part)) return true;
    const inner = depth > 1 ? partsOf(part) : undefined;
    return inner !== undefined && holdsUndefined(inner, depth - 1);
  });
}

/** An array's items (holes as undefined) or a plain object's values; undefined for anything else. */
function partsOf(value: unknown): unknown[] | undefined {
  if (Array.isArray(value)) return Array.from(value as unknown[]);
  if (typeof value !== 'object' || value === null) return undefined;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === Object.prototype || proto === null ? Object.values(value) : undefined;
}

/** Header values (tokens, cookies) never appear in keys in clear text. */
function hashHeader(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

/** The HTTP method may be cached (GET and HEAD unless `httpMethods` says otherwise). */
export function cacheableMethod(request: CacheRequest, options: AnyOptions): boolean {
  const method = httpMethod(request);
  const allowed = options.httpMethods;
  if (allowed === undefined) return method === 'GET' || method === 'HEAD';
  return allowed.some((m: string) => m.toUpperCase() === method);
}

/**
 * A body the key cannot read: a multipart one (file uploads, parsed by an interceptor or the
 * handler after the key is built), or one the framework left unparsed (Express parses only JSON
 * and urlencoded bodies: a text, NDJSON or XML body the handler reads from the stream is not in
 * `req.body`). Such a request is not cached. A declared body that parsed to nothing (`{}`) counts
 * as unparsed: the key cannot tell the two apart.
 */
export function carriesUnreadBody(request: CacheRequest): boolean {
  const headers = request.headers;
  const type = headers['content-type'];
  if (typeof type === 'string' && /^\s*multipart\//i.test(type)) return true;
  const length = headers['content-length'];
  const declared = headers['transfer-encoding'] !== undefined || (typeof length === 'string' && /[1-9]/.test(length));
  return declared && noBody((request.raw as { body?: unknown }).body);
}

/** HEAD is answered from the GET entry but never fills it (its handler may skip the body). */
export function isHead(request: CacheRequest): boolean {
  return request.transport === 'http' && (request.raw as { method?: string }).method === 'HEAD';
}

/** Node hands methods upper-case already. */
function httpMethod(request: CacheRequest): string {
  const method = (request.raw as HttpRequestLike).method ?? 'GET';
  return method === 'GET' || method === 'HEAD' ? method : method.toUpperCase();
}

/**
 * Canonical HTTP key part: host, route pattern, handler version, params, query (keys sorted),
 * vary. Each part is JSON-quoted or canonically encoded, so distinct requests never share a key.
 * Common shapes (string values) take a fast path; anything else goes through the general encoder.
 */
export function httpKeyPart(
  request: CacheRequest,
  host: string | undefined,
  handler: { version: string; declaredHost: string; lastRoute?: string; lastRouteJson?: string },
  vary: unknown,
): string {
  const p = flat(request.params);
  const q = flat(request.query);
  const route = request.route;
  if (route !== undefined && route !== handler.lastRoute) {
    handler.lastRouteJson = JSON.stringify(route);
    handler.lastRoute = route;
  }
  const head = `${host === undefined ? '-' : JSON.stringify(host)}|${route === undefined ? '-' : handler.lastRouteJson!}|${handler.version}|${handler.declaredHost}`;
  // A method with a body (POST with httpMethods) answers for that method and body; so does a GET
  // that carries one (Express parses it, and @Body() reads it).
  const method = httpMethod(request);
  const raw = (request.raw as { body?: unknown }).body;
  const body =
    method === 'GET' || method === 'HEAD'
      ? noBody(raw)
        ? ''
        : `|${encodeValue(raw, 'the request', 'body')}`
      : `|${method}|${encodeValue(raw, 'the request', 'body')}`;
  if (p === undefined || q === undefined) {
    return `${head}|${encodeValue({ params: request.params, query: request.query, vary }, 'the request', 'request')}${body}`;
  }
  return (
    (vary === undefined ? `${head}|${p}|${q}` : `${head}|${p}|${q}|${encodeValue(vary, 'the vary option', 'vary')}`) +
    body
  );
}

/** No body, as parsers leave it: undefined, null, an empty string or an empty object. */
function noBody(body: unknown): boolean {
  if (body === undefined || body === null || body === '') return true;
  return (
    typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0 && !(body instanceof Uint8Array)
  );
}

/** `{"a":"1","b":["x","y"]}` with sorted keys, or undefined if a value is not a string or string list. */
function flat(record: Readonly<Record<string, unknown>>): string | undefined {
  const keys = Object.keys(record);
  if (keys.length === 0) return '{}';
  keys.sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const value = record[keys[i]];
    if (typeof value !== 'string' && !(Array.isArray(value) && value.every((x) => typeof x === 'string')))
      return undefined;
    out += `${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:${JSON.stringify(value)}`;
  }
  return out + '}';
}
