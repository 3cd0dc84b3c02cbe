import type { CacheRequest } from '../../lib';
import { varyReadingIdentity } from '../../lib/interceptor/identity-reads';

/** Which vary functions read who an identified request is (then their result may be its identity). */
const httpRaw = {
  session: { id: 'sess1', userId: 'ann', locale: 'de' },
  sessionID: 'sess1',
  authInfo: { scope: 'read' },
  cookies: { sid: 's1' },
  auth: { payload: { sub: 'ann' } },
  subdomains: ['acme'],
  query: { user: 'alice', lang: 'en' },
  params: { user: 'alice' },
  body: { authorization: 'Bearer forged' },
  url: '/me?lang=en',
  headers: { 'accept-language': 'en', authorization: 'Bearer t', 'x-api-key': 'pk_app', 'x-tenant': 'acme' },
  get(this: { headers: Record<string, string> }, name: string) {
    return this.headers[name.toLowerCase()];
  },
};
const request = {
  transport: 'http',
  params: { id: '7', user: 'alice' },
  query: { lang: 'en', user: 'alice' },
  headers: httpRaw.headers,
  host: 'example.com',
  route: '/me',
  user: { sub: 'ann' },
  raw: httpRaw,
  context: {
    getType: () => 'http',
    getHandler: () => handler,
    getArgs: () => [httpRaw, {}],
    switchToHttp: () => ({ getRequest: () => httpRaw }),
  },
} as unknown as CacheRequest;
function handler() {}

/** Only Authorization: an X-Api-Key it does not carry names no one. */
const bearer = ['authorization'];
/** Authorization and the app's shared X-Api-Key. */
const both = ['authorization', 'x-api-key'];

type Raw = typeof httpRaw;
const raw = (req: CacheRequest) => req.raw as Raw;
const http = (req: CacheRequest) => req.context.switchToHttp().getRequest<Raw>();

const readsIdentity = (vary: (req: CacheRequest) => unknown, credentials = bearer, req = request) =>
  varyReadingIdentity(req, credentials, vary).readIdentity;

describe('varyReadingIdentity on HTTP', () => {
  it.each<[string, (req: CacheRequest) => unknown]>([
    ['req.user', (req) => (req.user as { sub: string }).sub],
    ['a destructured user', ({ user }) => user],
    ['a credential header', (req) => req.headers.authorization],
    ['the raw request (a session)', (req) => raw(req).session.userId],
    ['the raw request (express-jwt req.auth)', (req) => raw(req).auth.payload.sub],
    ["the session's id", (req) => raw(req).session.id],
    ['express-session sessionID', (req) => raw(req).sessionID],
    ["the raw request's credential header", (req) => raw(req).headers.authorization],
    ["the raw request's get('Authorization')", (req) => raw(req).get('Authorization')],
    ['the request from the context', (req) => http(req).headers.authorization],
    ['the session from the context', (req) => http(req).session.userId],
  ])('reads who the request is: %s', (_name, vary) => {
    expect(readsIdentity(vary)).toBe(true);
  });

  it.each<[string, (req: CacheRequest) => unknown]>([
    ['a language header', (req) => req.headers['accept-language']],
    ['two other headers', (req) => [req.headers['accept-language'], req.headers['x-tenant']]],
    ['a header checked for presence', (req) => 'authorization' in req.headers],
    // eslint-disable-next-line no-prototype-builtins -- as users write it
    ['a header checked for presence on the raw request', (req) => raw(req).headers.hasOwnProperty('authorization')],
    ['host and route', (req) => `${req.host}${req.route}`],
    ['the query and params', (req) => [req.query.lang, req.params.id]],
    ['a credential header the request does not carry', (req) => req.headers['x-api-key'] ?? 'web'],
    ['the header names, then a language', (req) => Object.keys(req.headers).filter((h) => h.startsWith('accept'))],
    ["the raw request's language header and url", (req) => [raw(req).headers['accept-language'], raw(req).url]],
    ["the raw request's get('accept-language')", (req) => raw(req).get('accept-language')],
    ['a constant', () => 'everyone'],
    // Node's header names are lower-case: this read finds nothing, for every user.
    ['a credential header in another case', (req) => req.headers['Authorization']],
    ['the raw request’s subdomains', (req) => raw(req).subdomains.join('.')],
    ["the context's type", (req) => req.context.getType()],
    // Review of 04c13bb: a field named `user` in what the client sent was credited (Bob got Alice's orders).
    ['a query parameter named user', (req) => raw(req).query.user],
    ['a route parameter named user', (req) => raw(req).params.user],
    ['the top-level query named user', (req) => req.query.user],
    ['a body field named authorization', (req) => raw(req).body.authorization],
    ['the query through the context', (req) => http(req).query.user],
    // Second review: a cookie, a session value or passport's authInfo, shared by users, was credited.
    ['a cookie, parsed', (req) => raw(req).cookies.sid],
    ["the session's locale", (req) => raw(req).session.locale],
    ["passport's authInfo", (req) => raw(req).authInfo],
    // Walking the headers reads no one by name (each leaked: review).
    ['every header (JSON)', (req) => JSON.stringify(req.headers)],
    ['every header (spread), then a tenant', (req) => ({ ...req.headers })['x-tenant']],
    [
      'a case-insensitive lookup over Object.entries',
      (req) => Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'x-tenant')?.[1],
    ],
    [
      'a symbol read (lodash isPlainObject), then a tenant',
      (req) => [(req.headers as Record<PropertyKey, unknown>)[Symbol.toStringTag], req.headers['x-tenant']],
    ],
    ['the whole request, spread', (req) => ({ ...req })],
    ['the raw request, spread', (req) => ({ ...raw(req) })],
    // Throws on the view, runs on the request itself: only what it read before counts.
    ['a structuredClone of the headers', (req) => structuredClone(req.headers)],
  ])('does not: %s', (_name, vary) => {
    expect(readsIdentity(vary)).toBe(false);
  });

  it('a request carrying two credentials is named only by reading both (or the user)', () => {
    expect(readsIdentity((req) => req.headers['x-api-key'], both)).toBe(false); // the app's shared key: review
    expect(readsIdentity((req) => req.headers.authorization, both)).toBe(false);
    expect(readsIdentity((req) => [req.headers.authorization, req.headers['x-api-key']], both)).toBe(true);
    expect(readsIdentity((req) => (req.user as { sub: string }).sub, both)).toBe(true);
  });

  it('returns the objects themselves, not views of them, and reads frozen fields', () => {
    const since = new Date(0);
    const frozen = Object.freeze({ inner: { id: 'x' } });
    const req = { ...request, raw: { ...httpRaw, user: { since }, frozen } } as unknown as CacheRequest;
    const { by, readIdentity } = varyReadingIdentity(req, bearer, (r) => {
      const raw = r.raw as { user: { since: Date }; frozen: { inner: { id: string } } };
      return [raw.user.since, { at: raw.user.since }, raw.frozen.inner.id];
    });
    expect(readIdentity).toBe(true);
    const [date, wrapped, id] = by as [Date, { at: Date }, string];
    expect(Date.prototype.getTime.call(date)).toBe(0); // throws on a proxy
    expect(Date.prototype.getTime.call(wrapped.at)).toBe(0);
    expect(id).toBe('x');
  });

  it("the handler from the context is the function itself (its metadata is readable), and one object's views are one", () => {
    const { by } = varyReadingIdentity(request, bearer, (r) => [
      r.context.getHandler() === handler,
      http(r) === http(r),
      http(r) === (r.raw as object),
    ]);
    expect(by).toEqual([true, true, true]);
  });

  it('returns what the function returned, read through the view', () => {
    expect(varyReadingIdentity(request, bearer, (req) => [req.headers.authorization, req.user]).by).toEqual([
      'Bearer t',
      { sub: 'ann' },
    ]);
  });
});

describe('varyReadingIdentity on RPC and GraphQL', () => {
  const metadata = {
    map: { authorization: 'Bearer t', 'x-tenant': 'acme' } as Record<string, string>,
    get(name: string) {
      return [this.map[name]];
    },
    getMap() {
      return { ...this.map };
    },
  };
  const nats = {
    getHeaders: () =>
      new Map([
        ['Authorization', 'Bearer t'],
        ['X-Tenant', 'acme'],
      ]),
  };
  /** As nats.js MsgHdrs: names match exactly, and a missing one reads ''. */
  const natsExact = {
    getHeaders: () => {
      const map = new Map([
        ['Authorization', 'Bearer t'],
        ['X-Tenant', 'acme'],
      ]);
      return { get: (k: string) => map.get(k) ?? '', keys: () => map.keys() };
    },
  };
  const kafka = { getMessage: () => ({ key: 'k1', headers: { authorization: 'Bearer t', 'x-tenant': 'acme' } }) };
  const rpc = (ctx: object, data: unknown = { id: 7, user: 'alice' }) =>
    ({
      transport: 'rpc',
      params: {},
      query: {},
      headers: { authorization: 'Bearer t' },
      data,
      raw: ctx,
      context: { getArgs: () => [data, ctx], switchToRpc: () => ({ getData: () => data, getContext: () => ctx }) },
    }) as unknown as CacheRequest;
  const gqlContext = { req: { user: { sub: 'ann' }, headers: { authorization: 'Bearer t' } }, token: 'Bearer t' };
  const args = { user: 'alice', input: { headers: { authorization: 'Bearer forged' } } };
  const info = { variableValues: { authorization: 'Bearer forged' } };
  const graphql = {
    transport: 'graphql',
    params: {},
    query: {},
    headers: gqlContext.req.headers,
    data: args,
    parent: { id: 'p1' },
    raw: gqlContext,
    context: { getArgs: () => [{ id: 'p1' }, args, gqlContext, info] },
  } as unknown as CacheRequest;
  type Any = Record<string, any>;
  const r = (req: CacheRequest) => req.raw as Any;
  const c = (req: CacheRequest) => req.context as unknown as Any;

  it.each<[string, CacheRequest, (req: CacheRequest) => unknown]>([
    ["gRPC metadata's get('authorization')", rpc(metadata), (req) => r(req).get('authorization')],
    ["gRPC metadata's getMap()", rpc(metadata), (req) => r(req).getMap().authorization],
    ["NATS getHeaders().get('Authorization')", rpc(nats), (req) => r(req).getHeaders().get('Authorization')],
    ["a case-sensitive get('Authorization')", rpc(natsExact), (req) => r(req).getHeaders().get('Authorization')],
    ['Kafka getMessage().headers', rpc(kafka), (req) => r(req).getMessage().headers.authorization],
    ['the GraphQL context’s request user', graphql, (req) => r(req).req.user.sub],
    ['the GraphQL context’s token', graphql, (req) => r(req).token],
    ['the GraphQL context through getArgs()', graphql, (req) => c(req).getArgs()[2].req.user.sub],
  ])('reads who the request is: %s', (_name, req, vary) => {
    expect(readsIdentity(vary, bearer, req)).toBe(true);
  });

  it.each<[string, CacheRequest, (req: CacheRequest) => unknown]>([
    ['the payload', rpc(metadata), (req) => (req.data as Any).id],
    ['a payload field named user', rpc(metadata), (req) => (req.data as Any).user],
    ['a payload field named user, through getData()', rpc(metadata), (req) => c(req).switchToRpc().getData().user],
    ['a payload field named user, through getArgs()', rpc(metadata), (req) => c(req).getArgs()[0].user],
    ['gRPC getMap() for another header', rpc(metadata), (req) => r(req).getMap()['x-tenant']],
    ["NATS getHeaders().get('X-Tenant')", rpc(nats), (req) => r(req).getHeaders().get('X-Tenant')],
    // Second review: both leaked.
    [
      "a case-sensitive get('authorization') that finds nothing ('') beside a tenant",
      rpc(natsExact),
      (req) => [r(req).getHeaders().get('authorization'), r(req).getHeaders().get('X-Tenant')],
    ],
    [
      'a walk of NATS headers by keys() and get(), then a tenant',
      rpc(natsExact),
      (req) => {
        const h = r(req).getHeaders();
        const lower: Record<string, string> = {};
        for (const k of h.keys()) lower[k.toLowerCase()] = h.get(k);
        return lower['x-tenant'];
      },
    ],
    [
      'GraphQL arguments destructured from getArgs()',
      graphql,
      (req) => {
        const [, a] = c(req).getArgs();
        return a.input?.headers?.authorization;
      },
    ],
    ['a Kafka message key', rpc(kafka), (req) => r(req).getMessage().key],
    ['the GraphQL parent', graphql, (req) => (req.parent as Any).id],
    ['a GraphQL argument named user', graphql, (req) => c(req).getArgs()[1].user],
    ['a GraphQL variable named authorization', graphql, (req) => c(req).getArgs()[3].variableValues.authorization],
  ])('does not: %s', (_name, req, vary) => {
    expect(readsIdentity(vary, bearer, req)).toBe(false);
  });
});
