/**
 * @CacheEvict under review: callbacks that read arguments the method changes (an entity updated
 * in place, then saved), a failed bust on a synchronous method, and callbacks that return what
 * cannot be busted. Each case failed before its fix.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import {
  CacheEvict,
  CacheMemoize,
  CacheMemoizeErrorCode,
  InvalidateTags,
  evictCall,
  memoryStore,
  redisStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

interface User {
  id: number;
  email: string;
}
const db = new Map<number, User>();

@Injectable()
class Users {
  @CacheMemoize({ ttl: '1h', tags: (email: string) => [`email:${email}`] })
  async byEmail(email: string): Promise<User | null> {
    const found = [...db.values()].find((u) => u.email === email);
    return found ? { ...found } : null;
  }

  @CacheMemoize({ ttl: '1h' })
  async exists(email: string): Promise<boolean> {
    return [...db.values()].some((u) => u.email === email);
  }

  // The entity is updated in place (TypeORM / Mongoose style), then saved.
  @InvalidateTags((user: User) => [`email:${user.email}`])
  async changeEmail(user: User, email: string): Promise<void> {
    user.email = email;
    db.set(user.id, { ...user });
  }

  @CacheEvict({ methods: [evictCall(Users, 'exists', (user: User) => [user.email])] })
  async renameByCall(user: User, email: string): Promise<void> {
    user.email = email;
    db.set(user.id, { ...user });
  }

  // The tags need the id the method assigns: the callback throws on the arguments as passed.
  @InvalidateTags((user: { id?: number }) => [`user:${user.id!.toFixed(0)}`])
  async create(user: { id?: number }): Promise<number> {
    user.id = 7;
    return user.id;
  }

  // A synchronous mutator whose tags callback fails.
  @InvalidateTags((user: { id?: number }) => {
    if (user.id === undefined) throw new Error('no id yet');
    return [`user:${user.id}`];
  })
  saveSync(user: { id?: number }): boolean {
    void user;
    return true;
  }

  @CacheEvict({ keys: () => [42 as unknown as string] })
  async evictBadKey(): Promise<boolean> {
    return true;
  }

  @CacheEvict({ namespaces: () => [undefined as unknown as string] })
  async evictBadNamespace(): Promise<boolean> {
    return true;
  }
}

describe.each([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
] as Array<[string, () => CacheStore]>)('@CacheEvict on %s', (_name, make) => {
  let app: TestingModule;
  let lines: string[];
  beforeEach(async () => {
    lines = [];
    for (const level of ['log', 'warn', 'error'] as const)
      jest
        .spyOn(Logger.prototype, level)
        .mockImplementation(((m: unknown) => void lines.push(`${level}: ${String(m)}`)) as never);
    db.clear();
    db.set(1, { id: 1, email: 'old@example.com' });
    app = await appOn(make(), uniquePrefix('evictreview'), [Users]);
  });
  afterEach(async () => {
    await app.close();
    jest.restoreAllMocks();
  });

  it('tags from an argument the method changed: the entry of the argument as passed is busted too', async () => {
    const users = app.get(Users);
    const user = { ...(await users.byEmail('old@example.com'))! };
    expect(await users.byEmail('new@example.com')).toBeNull();
    await settle(app);
    await users.changeEmail(user, 'new@example.com');
    expect(await users.byEmail('old@example.com')).toBeNull();
    expect(await users.byEmail('new@example.com')).toEqual({ id: 1, email: 'new@example.com' });
  });

  it('methods (evictCall) from an argument the method changed: both calls are busted', async () => {
    const users = app.get(Users);
    expect([await users.exists('old@example.com'), await users.exists('new@example.com')]).toEqual([true, false]);
    await settle(app);
    await users.renameByCall({ id: 1, email: 'old@example.com' }, 'new@example.com');
    expect([await users.exists('old@example.com'), await users.exists('new@example.com')]).toEqual([false, true]);
  });

  it('a callback that needs what the method fills in (a new id) fails only if it still fails after the method', async () => {
    expect(await app.get(Users).create({})).toBe(7);
    expect(lines.filter((l) => l.includes('Users.create'))).toEqual([]);
  });

  it('a synchronous method whose bust fails: the call returns and the failure is logged once', async () => {
    expect(app.get(Users).saveSync({})).toBe(true);
    await settle(app);
    expect(lines.filter((l) => l.includes('saveSync'))).toEqual([
      'error: Users.saveSync completed (its result is on error.result), but the cache could not be invalidated: no id yet',
    ]);
  });

  it.each([
    ['evictBadKey', 'option keys must give a list of strings, got one holding number 42.'],
    ['evictBadNamespace', 'option namespaces must give a list of strings, got one holding undefined.'],
  ] as const)('%s: a callback giving what cannot be busted fails the call with a typed cause', async (method, says) => {
    const users = app.get(Users);
    const error = (await users[method]().catch((e: unknown) => e)) as { code?: string; cause?: { message?: string } };
    expect(error.code).toBe(CacheMemoizeErrorCode.InvalidationFailed);
    expect(error.cause?.message).toContain(`@CacheEvict on Users.${method}`);
    expect(error.cause?.message).toContain(says);
  });
});
