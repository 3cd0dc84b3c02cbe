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
  raw: { session: { userId: 'ann' } },
} as unknown as CacheRequest;
const isCredential = (name: string) => name === 'authorization' || name === 'cookie';

describe('varyReadingIdentity', () => {
  it.each<[string, (req: CacheRequest) => unknown]>([
    ['req.user', (req) => (req.user as { sub: string }).sub],
    ['a destructured user', ({ user }) => user],
    ['a credential header', (req) => req.headers.authorization],
    ['a credential header in another case', (req) => req.headers['Authorization']],
    ['every header (JSON)', (req) => JSON.stringify(req.headers)],
    ['every header (spread)', (req) => ({ ...req.headers })],
    ['the raw request (a session)', (req) => (req.raw as { session: { userId: string } }).session.userId],
    ['the query (a token there)', (req) => req.query.lang],
    ['the params', (req) => req.params.id],
    ['the whole request, spread', (req) => ({ ...req })],
  ])('%s: read', (_what, vary) => {
    expect(varyReadingIdentity(request, isCredential, vary).readIdentity).toBe(true);
  });

  it.each<[string, (req: CacheRequest) => unknown]>([
    ['a language header', (req) => req.headers['accept-language']],
    ['two other headers', (req) => [req.headers['accept-language'], req.headers['x-trace']]],
    ['a header checked for presence', (req) => 'authorization' in req.headers],
    ['host and route', (req) => `${req.host}${req.route}`],
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
