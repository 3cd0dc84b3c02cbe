import type { CacheRequest } from '../types/request';

/**
 * Why an identified request whose vary function never read who it is, is served uncached: a
 * `vary: (req) => req.headers['accept-language']` on a guarded route gave one user's response to
 * the next user with the same language (found by a new user's trial).
 */
export const IDENTITY_UNREAD =
  'its vary function read neither req.user nor a credential header (nor req.raw, req.context, the query, params, ' +
  'data or parent) for a request identified by one: its result would be shared by every user. Return who the ' +
  'request is (req.user.sub), or declare public: true with the vary when the response is the same for every user.';

/** Request fields that cannot say who the request is. Any other field read may (a session, a query token). */
const ANONYMOUS_FIELDS: ReadonlySet<PropertyKey> = new Set(['transport', 'host', 'route', 'pattern']);

/**
 * Runs `vary` on a view of the request that notes whether it read anything that can name who the
 * request is: any field but a few, or a credential header (or all headers at once).
 */
export function varyReadingIdentity<T>(
  request: CacheRequest,
  isCredential: (lowerCaseName: string) => boolean,
  vary: (request: CacheRequest) => T,
): { by: T; readIdentity: boolean } {
  let readIdentity = false;
  const headers = new Proxy(request.headers, {
    get(target, name, receiver) {
      if (typeof name !== 'string' || isCredential(name.toLowerCase())) readIdentity = true;
      return Reflect.get(target, name, receiver) as unknown;
    },
    ownKeys(target) {
      readIdentity = true; // a copy or a walk of every header
      return Reflect.ownKeys(target);
    },
  });
  const watched = new Proxy(request, {
    get(target, name, receiver) {
      if (name === 'headers') return headers;
      if (!ANONYMOUS_FIELDS.has(name)) readIdentity = true;
      return Reflect.get(target, name, receiver) as unknown;
    },
    ownKeys(target) {
      readIdentity = true;
      return Reflect.ownKeys(target);
    },
  });
  const by = vary(watched);
  return { by, readIdentity };
}
