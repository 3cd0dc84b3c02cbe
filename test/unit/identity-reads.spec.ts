import type { CacheRequest } from '../../lib';
import { varyReadingIdentity } from '../../lib/interceptor/identity-reads';

/** Which vary functions read who an identified request is (then their result may be its identity). */
const request = {
  transport: 'http',
  params: { id: '7' },
  query: { lang: 'en' },
  headers: { 'accept-language': 'en', authorization: 'Bearer t', 'x-trace': 'abc' },
  host: 'example.com',
  route: '/me',
  user: { sub: 'ann' },
  raw: {
    session: { userId: 'ann' },
    url: '/me?lang=en',
    headers: { 'accept-language': 'en', authorization: 'Bearer t' },
    get(this: { headers: Record<string, string> }, name: string) {
      return this.headers[name.toLowerCase()];
    },
  },
} as unknown as CacheRequest;
/** The credentials this request carries (an X-Api-Key it does not carry names no one). */
const isCredential = (name: string) => name === 'authorization';
type Raw = { session: { userId: string }; url: string; headers: Record<string, string>; get(n: string): string };
const raw = (req: CacheRequest) => req.raw as Raw;

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
    ['a structuredClone of the headers (run on the request itself)', (req) => structuredClone(req.headers)],
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
  ])('%s: not read', (_what, vary) => {
    expect(varyReadingIdentity(request, isCredential, vary).readIdentity).toBe(false);
  });

  it('returns what the function returned, read through the view', () => {
    expect(varyReadingIdentity(request, isCredential, (req) => [req.headers.authorization, req.user]).by).toEqual([
      'Bearer t',
      { sub: 'ann' },
    ]);
  });
});
