import type { CacheRequest } from '../../lib';
import { varyReadingIdentity } from '../../lib/interceptor/identity-reads';

/** Which vary functions read who an identified request is (then their result may be its identity). */
const gqlContext = { req: { user: { sub: 'ann' }, headers: { 'accept-language': 'en' } } };
const request = {
  transport: 'http',
  data: { id: '7' },
  parent: { id: 'p1' },
  context: { getType: () => 'http', getArgs: () => [{}, {}, gqlContext] },
  params: { id: '7' },
  query: { lang: 'en' },
  headers: { 'accept-language': 'en', authorization: 'Bearer t', 'x-trace': 'abc' },
  host: 'example.com',
  route: '/me',
  user: { sub: 'ann' },
  raw: {
    session: { userId: 'ann' },
    cookies: { sid: 's1' },
    subdomains: ['acme'],
    getMap: () => ({ authorization: 'Bearer t', 'x-tenant': 'acme' }),
    getHeaders: () =>
      new Map([
        ['Authorization', 'Bearer t'],
        ['X-Tenant', 'acme'],
      ]),
    url: '/me?lang=en',
    headers: { 'accept-language': 'en', authorization: 'Bearer t' },
    get(this: { headers: Record<string, string> }, name: string) {
      return this.headers[name.toLowerCase()];
    },
  },
} as unknown as CacheRequest;
/** The credentials this request carries (an X-Api-Key it does not carry names no one). */
const isCredential = (name: string) => name === 'authorization';
type Raw = {
  session: { userId: string };
  cookies: Record<string, string>;
  subdomains: string[];
  getMap(): Record<string, string>;
  getHeaders(): Map<string, string>;
  url: string;
  headers: Record<string, string>;
  get(n: string): string;
};
const raw = (req: CacheRequest) => req.raw as Raw;
type GqlArgs = [unknown, unknown, typeof gqlContext];
const ctx = (req: CacheRequest) => req.context as unknown as { getArgs(): GqlArgs };

describe('varyReadingIdentity', () => {
  it.each<[string, (req: CacheRequest) => unknown]>([
    ['req.user', (req) => (req.user as { sub: string }).sub],
    ['a destructured user', ({ user }) => user],
    ['a credential header', (req) => req.headers.authorization],
    ['a credential header in another case', (req) => req.headers['Authorization']],
    ['every header (JSON)', (req) => JSON.stringify(req.headers)],
    ['every header (spread)', (req) => ({ ...req.headers })],
    ['the raw request (a session)', (req) => raw(req).session.userId],
    ["the raw request's credential header", (req) => raw(req).headers.authorization],
    ["the raw request's get('Authorization')", (req) => raw(req).get('Authorization')],
    ['the whole request, spread', (req) => ({ ...req })],
    ['the raw request through a method (GraphQL: getArgs()[2].req.user)', (req) => ctx(req).getArgs()[2].req.user.sub],
    ["gRPC metadata's getMap()", (req) => raw(req).getMap().authorization],
    ["NATS getHeaders().get('Authorization')", (req) => raw(req).getHeaders().get('Authorization')],
    ['a cookie, parsed', (req) => raw(req).cookies.sid],
  ])('%s: read', (_what, vary) => {
    expect(varyReadingIdentity(request, isCredential, vary).readIdentity).toBe(true);
  });

  it.each<[string, (req: CacheRequest) => unknown]>([
    ['a language header', (req) => req.headers['accept-language']],
    ['two other headers', (req) => [req.headers['accept-language'], req.headers['x-trace']]],
    ['a header checked for presence', (req) => 'authorization' in req.headers],
    ['host and route', (req) => `${req.host}${req.route}`],
    ['the query and params', (req) => [req.query.lang, req.params.id]],
    ['a credential header the request does not carry', (req) => req.headers['x-api-key'] ?? 'web'],
    ['the header names, then a language', (req) => Object.keys(req.headers).filter((h) => h.startsWith('accept'))],
    ["the raw request's language header and url", (req) => [raw(req).headers['accept-language'], raw(req).url]],
    ["the raw request's get('accept-language')", (req) => raw(req).get('accept-language')],
    ['a constant', () => 'everyone'],
    // Each counted while any field but a few did, and gave one user's response to another (review).
    ['the payload or GraphQL arguments', (req) => (req.data as { id: string }).id],
    ['the GraphQL parent', (req) => (req.parent as { id: string }).id],
    ['the raw request’s subdomains', (req) => raw(req).subdomains.join('.')],
    ["the context's type", (req) => req.context.getType()],
    ["gRPC metadata's getMap() for another header", (req) => raw(req).getMap()['x-tenant']],
    ["NATS getHeaders().get('X-Tenant')", (req) => raw(req).getHeaders().get('X-Tenant')],
    ['the GraphQL context’s request, for its language', (req) => ctx(req).getArgs()[2].req.headers['accept-language']],
    // Throws on the view, runs on the request itself: only what it read before counts (served uncached).
    ['a structuredClone of the headers', (req) => structuredClone(req.headers)],
  ])('%s: not read', (_what, vary) => {
    expect(varyReadingIdentity(request, isCredential, vary).readIdentity).toBe(false);
  });

  it('returns the objects themselves, not views of them, and reads frozen fields', () => {
    const since = new Date(0);
    const frozen = Object.freeze({ inner: { id: 'x' } });
    const req = { ...request, raw: { ...(request.raw as object), user: { since }, frozen } } as unknown as CacheRequest;
    const { by, readIdentity } = varyReadingIdentity(req, isCredential, (r) => {
      const raw = r.raw as { user: { since: Date }; frozen: { inner: { id: string } } };
      return [raw.user.since, { at: raw.user.since }, raw.frozen.inner.id];
    });
    expect(readIdentity).toBe(true);
    const [date, wrapped, id] = by as [Date, { at: Date }, string];
    expect(Date.prototype.getTime.call(date)).toBe(0); // throws on a proxy
    expect(Date.prototype.getTime.call(wrapped.at)).toBe(0);
    expect(id).toBe('x');
  });

  it('returns what the function returned, read through the view', () => {
    expect(varyReadingIdentity(request, isCredential, (req) => [req.headers.authorization, req.user]).by).toEqual([
      'Bearer t',
      { sub: 'ann' },
    ]);
  });
});
