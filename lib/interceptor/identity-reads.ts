import type { CacheRequest } from '../types/request';

/**
 * Why an identified request whose vary function never read who it is, is served uncached: a
 * `vary: (req) => req.headers['accept-language']` on a guarded route gave one user's response to
 * the next user with the same language (found by a new user's trial).
 */
export const IDENTITY_UNREAD =
  'its vary function read neither req.user nor a credential header the request carries (through req.headers, or ' +
  'by name anywhere in req.raw or req.context), nor a user, session or cookies field there, for a request ' +
  'identified by one: its result would be shared by every user. Return who the request is (req.user.sub), or ' +
  'declare public: true with the vary when the response is the same for every user.';

/**
 * Fields that name who the request is wherever they are read in the framework's request, an RPC
 * context or a GraphQL context (`req.raw.session.userId`, `req.context.getArgs()[2].req.user`).
 */
const IDENTITY_FIELDS: ReadonlySet<PropertyKey> = new Set([
  'user',
  'session',
  'cookies',
  'signedCookies',
  'authInfo',
  'auth',
  'principal',
  'claims',
  'currentUser',
  'viewer',
]);

/**
 * Runs `vary` on a view of the request that notes whether it read who the request is: `req.user`,
 * a credential header the request carries (by name in `headers`, or anywhere in `raw` or `context`:
 * a property, or a method's first argument as in `get('Authorization')`, gRPC's `getMap()` or
 * NATS' `getHeaders().get()`), or one of IDENTITY_FIELDS there. Nothing else counts: `data`,
 * `parent`, `query` and `params` are in the key already, and any other field of the request may
 * name anything (`req.raw.subdomains`, `req.context.getType()`: both gave one user's response to
 * another while every unknown field counted; review). A function that throws on the view
 * (`structuredClone` of a proxy) runs on the request itself, with what it read before the throw
 * (not a credential, for `structuredClone(req.headers)`: served uncached).
 */
export function varyReadingIdentity<T>(
  request: CacheRequest,
  isCredential: (lowerCaseName: string) => boolean,
  vary: (request: CacheRequest) => T,
): { by: T; readIdentity: boolean } {
  let readIdentity = false;
  const named = (name: unknown) => {
    if (typeof name === 'string' && isCredential(name.toLowerCase())) readIdentity = true;
  };
  // Copies and walks (spread, JSON, Object.entries) read each value through `get`; a symbol read
  // (iterating a Headers-like object) reads them all.
  const headersOf = (target: object) =>
    new Proxy(target, {
      get(t, name) {
        if (typeof name !== 'string') readIdentity = true;
        else named(name);
        return Reflect.get(t, name, t) as unknown;
      },
    });
  // Views made, both ways: one view per object, and the objects behind views the result holds.
  let made = false;
  const views = new WeakMap<object, object>();
  const targets = new WeakMap<object, object>();
  // What a deep read returns is watched too, down to where the credential or the user is.
  const deep = (value: unknown): unknown => {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return value;
    const known = views.get(value);
    if (known !== undefined) return known;
    const view = new Proxy(value, {
      get(t, name) {
        const field = Reflect.get(t, name, t) as unknown;
        named(name);
        if (IDENTITY_FIELDS.has(name)) readIdentity = true;
        // A proxy must return a frozen property as it is.
        const own = Reflect.getOwnPropertyDescriptor(t, name);
        if (own !== undefined && !own.configurable && !own.writable) return field;
        if (typeof field !== 'function') return deep(field);
        return (...args: unknown[]) => {
          named(args[0]);
          return deep(Reflect.apply(field, t, args));
        };
      },
    });
    views.set(value, view);
    targets.set(view, value);
    made = true;
    return view;
  };
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
  const watched = new Proxy(request, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (name === 'headers') return headersOf(value as object);
      if (name === 'raw' || name === 'context') return deep(value);
      if (name === 'user') readIdentity = true;
      return value;
    },
  });
  try {
    const by = vary(watched as CacheRequest);
    return { by: made ? (unwrap(by, 4) as T) : by, readIdentity };
  } catch {
    return { by: vary(request), readIdentity };
  }
}
