import type { CacheRequest } from '../types/request';

/**
 * Why an identified request whose vary function never read who it is, is served uncached: a
 * `vary: (req) => req.headers['accept-language']` on a guarded route gave one user's response to
 * the next user with the same language (found by a new user's trial).
 */
export const IDENTITY_UNREAD =
  'its vary function read neither req.user (or a user, session, token... field of the request itself) nor, by ' +
  'name, every credential header the request carries, for a request identified by one: its result would be ' +
  'shared by users it does not tell apart. Return who the request is (req.user.sub), or declare public: true ' +
  'with the vary when the response is the same for every user.';

/**
 * Fields that name who the request is, read on the request itself: the framework request (and the
 * Node request under Fastify, a GraphQL context's `req`), an RPC context, a GraphQL context. Never
 * in what the client sends (query, params, body, payload, GraphQL arguments: review found
 * `?user=alice` credited, and Bob served Alice's orders).
 */
const IDENTITY_FIELDS: ReadonlySet<PropertyKey> = new Set([
  'user',
  'sessionID',
  'passport',
  'auth',
  'principal',
  'claims',
  'currentUser',
  'currentUserId',
  'userId',
  'viewer',
  'account',
  'identity',
  'jwtPayload',
  'tokenPayload',
  'token',
]);
/** Fields of a request that hold what the client sent: nothing read under them names the caller. */
const CLIENT_FIELDS: ReadonlySet<PropertyKey> = new Set([
  'query',
  'params',
  'body',
  'rawBody',
  'files',
  'file',
  'data',
]);
/** Where transports keep headers by name: HTTP and Kafka `headers`, MQTT 5 `userProperties`, graphql-ws params. */
const HEADER_FIELDS: ReadonlySet<PropertyKey> = new Set(['headers', 'userProperties', 'connectionParams']);
/** Methods whose result holds headers by name: NATS `getHeaders()`, gRPC metadata's `getMap()`/`toJSON()`. */
const HEADER_METHODS: ReadonlySet<PropertyKey> = new Set(['getHeaders', 'getMap', 'toJSON']);
/** Methods that walk a container (NATS `keys()` then `get(k)` for each): what they lead to reads no one by name. */
const WALK_METHODS: ReadonlySet<PropertyKey> = new Set(['keys', 'entries', 'values', 'forEach', Symbol.iterator]);
/** Methods that test for a name without reading its value (`hasOwnProperty('authorization')` names no one). */
const PRESENCE_METHODS: ReadonlySet<PropertyKey> = new Set(['has', 'hasOwnProperty', 'propertyIsEnumerable']);

type Place = 'trusted' | 'headers' | 'other' | 'client';

/**
 * Runs `vary` on a view of the request that notes whether it read who the request is: `req.user`,
 * an identity field (IDENTITY_FIELDS) of the request itself, or every credential header the request
 * carries, each read by name (`req.headers.authorization`, `req.raw.get('Authorization')`, gRPC
 * `getMap().authorization`, NATS `getHeaders().get()`, Kafka `getMessage().headers`). Reading one
 * credential of two is not enough (an app's shared `X-Api-Key` beside a user's token: review), and
 * walking the headers (`Object.entries`, spread, `plainToInstance`) reads no one by name. Nothing
 * under what the client sent counts. A function that throws on the view (`structuredClone` of a
 * proxy) runs on the request itself, with what it read before the throw.
 */
export function varyReadingIdentity<T>(
  request: CacheRequest,
  credentials: readonly string[],
  vary: (request: CacheRequest) => T,
): { by: T; readIdentity: boolean } {
  let identityField = false;
  const read = new Set<string>();
  const walked = new WeakSet<object>();
  // Only a read that found the credential: a case-sensitive container's get('authorization') for an
  // `Authorization` it holds returns '' for everyone (NATS: review).
  const named = (name: unknown, from: object, value: unknown) => {
    if (typeof name !== 'string' || walked.has(from) || !found(value)) return;
    const lower = name.toLowerCase();
    if (credentials.includes(lower)) read.add(lower);
  };
  type Req = { raw?: Req; req?: Req; request?: Req; session?: unknown } | null | undefined;
  const raw = request.raw as Req;
  const requests = [raw, raw?.raw, raw?.req, raw?.req?.raw, raw?.request];
  // The request itself, and its session (whose user or id names the user; a cookie or a locale in it does not: review).
  const sessions = new Set<unknown>(requests.map((r) => r?.session).filter((x) => typeof x === 'object' && x !== null));
  const trusted = new Set<unknown>([...requests, ...sessions]);
  trusted.delete(undefined);
  trusted.delete(null);
  // RPC [payload, context], GraphQL [parent, args, context, info]: what the client sent, by position.
  const clientArgs = request.transport === 'rpc' ? [0] : request.transport === 'graphql' ? [0, 1, 3] : [];
  // Views made, both ways: one view per object and place, and the objects behind views the result holds.
  let made = false;
  const views = new Map<Place, WeakMap<object, object>>();
  const targets = new WeakMap<object, object>();
  const deep = (value: unknown, at: Place, args?: boolean): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    const place: Place = trusted.has(value) ? 'trusted' : at;
    let byPlace = views.get(place);
    if (byPlace === undefined) views.set(place, (byPlace = new WeakMap()));
    const known = byPlace.get(value);
    if (known !== undefined && !args) return known;
    const view = new Proxy(value, {
      get(t, name) {
        const field = Reflect.get(t, name, t) as unknown;
        if (place === 'headers') named(name, t, field);
        // Not in a walk ({ ...req.raw } reads `user` among everything else).
        if (place === 'trusted' && !walked.has(t) && (IDENTITY_FIELDS.has(name) || (name === 'id' && sessions.has(t))))
          identityField = true;
        // A proxy must return a frozen property as it is.
        const own = Reflect.getOwnPropertyDescriptor(t, name);
        if (own !== undefined && !own.configurable && !own.writable) return field;
        if (typeof field === 'function') return method(t, name, field, args ? 'client' : place);
        if (place === 'client' || CLIENT_FIELDS.has(name)) return deep(field, 'client');
        if (args && clientArgs.includes(Number(name))) return deep(field, 'client');
        return deep(field, HEADER_FIELDS.has(name) ? 'headers' : 'other');
      },
      ownKeys(t) {
        walked.add(t);
        return Reflect.ownKeys(t);
      },
    });
    if (!args) byPlace.set(value, view);
    targets.set(view, value);
    made = true;
    return view;
  };
  const method = (t: object, name: PropertyKey, fn: Function, place: Place) =>
    function (this: unknown, ...args: unknown[]): unknown {
      if (WALK_METHODS.has(name)) walked.add(t);
      const result = Reflect.apply(fn, t, args) as unknown;
      if ((place === 'trusted' || place === 'headers') && !PRESENCE_METHODS.has(name)) named(args[0], t, result);
      if (typeof result === 'function') return result; // getHandler(): the function itself (metadata is read from it)
      if (place === 'client') return deep(result, 'client');
      if (name === 'getData' || (name === 'getArgByIndex' && clientArgs.includes(Number(args[0]))))
        return deep(result, 'client');
      if (HEADER_METHODS.has(name)) return deep(result, 'headers');
      return deep(result, 'other', name === 'getArgs');
    };
  // Copies and walks (spread, JSON, Object.entries) read no one by name.
  let spread = false;
  const watched = new Proxy(request, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (name === 'headers') return deep(value, 'headers');
      if (name === 'raw' || name === 'context') return deep(value, 'other');
      if (name === 'user' && !spread) identityField = true;
      return value;
    },
    ownKeys(target) {
      spread = true;
      return Reflect.ownKeys(target);
    },
  });
  // The key is built from the objects themselves: a view of a Date or a Buffer is not one to
  // code that checks internal slots.
  const unwrap = (value: unknown, depth: number): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    const target = targets.get(value);
    if (target !== undefined) return target;
    if (depth === 0) return value;
    if (Array.isArray(value)) return value.map((v) => unwrap(v, depth - 1));
    if (Object.getPrototypeOf(value) !== Object.prototype) return value;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) out[k] = unwrap((value as Record<string, unknown>)[k], depth - 1);
    return out;
  };
  const verdict = () => identityField || (credentials.length > 0 && credentials.every((c) => read.has(c)));
  try {
    const by = vary(watched as CacheRequest);
    return { by: made ? (unwrap(by, 4) as T) : by, readIdentity: verdict() };
  } catch {
    return { by: vary(request), readIdentity: verdict() };
  }
}

/** A read that found something: not absent, not empty (`''`, an empty list of values). */
function found(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  return !Array.isArray(value) || value.some((v) => v !== undefined && v !== null && v !== '');
}
