import type { CacheRequest } from '../types/request';

/**
 * Why an identified request whose vary function never read who it is, is served uncached: a
 * `vary: (req) => req.headers['accept-language']` on a guarded route gave one user's response to
 * the next user with the same language (found by a new user's trial).
 */
export const IDENTITY_UNREAD =
  'its vary function read neither req.user nor a credential header the request carries (nor req.context, data, ' +
  'parent, or a field of req.raw but its url, method and other headers) for a request identified by one: its ' +
  'result would be shared by every user. Return who the request is (req.user.sub), or declare public: true with ' +
  'the vary when the response is the same for every user.';

/** Request fields that cannot say who the request is; any other read may (`user`, `context`, `data`, `parent`). */
const ANONYMOUS_FIELDS: ReadonlySet<PropertyKey> = new Set([
  'transport',
  'host',
  'route',
  'pattern',
  'query',
  'params',
]);
/** Fields of the framework's request (Express, Fastify) that cannot say who it is. */
const ANONYMOUS_RAW: ReadonlySet<PropertyKey> = new Set([
  'method',
  'url',
  'originalUrl',
  'path',
  'baseUrl',
  'hostname',
  'host',
  'protocol',
  'query',
  'params',
  'routeOptions',
  'routerPath',
]);

/**
 * Runs `vary` on a view of the request that notes whether it read anything that can name who the
 * request is: a credential header the request carries (in `headers`, or the framework request's
 * `headers`, `get()` or `header()`), or any other field but the few that cannot. A function that
 * throws on the view (`structuredClone` of a proxy) runs on the request itself, counted as read.
 */
export function varyReadingIdentity<T>(
  request: CacheRequest,
  isCredential: (lowerCaseName: string) => boolean,
  vary: (request: CacheRequest) => T,
): { by: T; readIdentity: boolean } {
  let readIdentity = false;
  const named = (name: unknown) => {
    if (typeof name !== 'string' || isCredential(name.toLowerCase())) readIdentity = true;
  };
  // Copies and walks (spread, JSON, Object.entries) read each value through `get`.
  const headersOf = (target: object) =>
    new Proxy(target, {
      get(t, name) {
        named(name);
        return Reflect.get(t, name, t) as unknown;
      },
    });
  const raw = (target: object) =>
    new Proxy(target, {
      get(t, name) {
        const value = Reflect.get(t, name, t) as unknown;
        if (name === 'headers' && typeof value === 'object' && value !== null) return headersOf(value);
        if ((name === 'get' || name === 'header') && typeof value === 'function')
          return (header: unknown, ...rest: unknown[]) => (named(header), Reflect.apply(value, t, [header, ...rest]));
        if (!ANONYMOUS_RAW.has(name)) readIdentity = true;
        return typeof value === 'function' ? value.bind(t) : value;
      },
    });
  const watched = new Proxy(request, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (name === 'headers') return headersOf(value as object);
      if (name === 'raw' && typeof value === 'object' && value !== null) return raw(value);
      if (!ANONYMOUS_FIELDS.has(name)) readIdentity = true;
      return value;
    },
  });
  try {
    return { by: vary(watched), readIdentity };
  } catch {
    return { by: vary(request), readIdentity: true };
  }
}
