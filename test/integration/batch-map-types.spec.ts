/*
 * New user's trial: a `result: 'map'` batch method keyed its Map by the ids its driver returned
 * (pg gives bigint ids as strings) while callers passed numbers. Map keys match by type: the
 * caller got an empty Map and every user was cached as missing for the ttl, silently. Such a
 * result is now refused as a misaligned one is: an error naming the types, nothing cached.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { BatchResultError, CacheMemoizeMany, CacheMemoizeModule } from '../../lib';

type Row = { id: string; email: string };

@Injectable()
class Users {
  calls = 0;
  @CacheMemoizeMany({ ttl: '5m', result: 'map' })
  async byStringKeys(ids: number[]): Promise<Map<unknown, Row>> {
    this.calls++;
    return new Map(ids.filter((id) => id !== 404).map((id) => [String(id), { id: String(id), email: `u${id}` }]));
  }

  @CacheMemoizeMany({ ttl: '5m', result: 'map' })
  async byNumberKeys(ids: string[]): Promise<Map<unknown, Row>> {
    this.calls++;
    return new Map(ids.map((id) => [Number(id), { id, email: `u${id}` }]));
  }

  @CacheMemoizeMany({ ttl: '5m', result: 'map' })
  async mixed(ids: Array<number | string>): Promise<Map<unknown, Row>> {
    return new Map(ids.filter((id) => id !== '1').map((id) => [id, { id: String(id), email: `u${id}` }]));
  }

  @CacheMemoizeMany({ ttl: '5m', result: 'map' })
  async matching(ids: number[]): Promise<Map<number, Row>> {
    this.calls++;
    return new Map(ids.filter((id) => id !== 404).map((id) => [id, { id: String(id), email: `u${id}` }]));
  }
}

let app: TestingModule;
let users: Users;
beforeEach(async () => {
  app = await Test.createTestingModule({ imports: [CacheMemoizeModule.forRoot({})], providers: [Users] }).compile();
  await app.init();
  users = app.get(Users);
});
afterEach(() => app.close());

describe("@CacheMemoizeMany({ result: 'map' }) keyed by ids of another type", () => {
  it.each([
    [
      'string keys for number ids',
      () => users.byStringKeys([1, 2]),
      /keyed by the string '1' where the id is the number 1/,
    ],
    [
      'number keys for string ids',
      () => users.byNumberKeys(['7']),
      /keyed by the number 7 where the id is the string '7'/,
    ],
  ])('%s: refused, naming both, and nothing is cached', async (_name, call, message) => {
    const error = await call().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchResultError);
    expect((error as Error).message).toMatch(message);
    await call().catch(() => undefined);
    expect(users.calls).toBe(2); // not cached as missing
  });

  it('ids of both types asked on purpose: the one found is returned, the other is missing (no refusal)', async () => {
    const found = await users.mixed([1, '1', 'abc']);
    expect([...found.keys()]).toEqual([1, 'abc']);
  });

  it('a Map of the ids as given is cached, an id it leaves out as missing', async () => {
    expect([...(await users.matching([1, 404])).keys()]).toEqual([1]);
    expect([...(await users.matching([1, 404])).keys()]).toEqual([1]);
    expect(users.calls).toBe(1);
  });
});
