/**
 * @CacheEvict on a hand-made instance busts in every app that provides the class. Its plan (the
 * arguments as passed) and its bust (after the method) must go to the same apps, even when an app
 * opens or closes while the method runs. Before the fix, the apps were looked up twice: the call
 * rejected (closing) or the old entry stayed served (opening). Found by review.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, InvalidateTags, memoryStore } from '../../lib';
import { appOn } from '../support/app-on';
import { uniquePrefix } from '../support/shared-servers';

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
}

let release: () => void = () => undefined;
class Writer {
  @InvalidateTags((user: User) => [`email:${user.email}`])
  async changeEmail(user: User, email: string): Promise<void> {
    user.email = email;
    db.set(user.id, { ...user });
    await new Promise<void>((r) => (release = r));
  }
}

describe('unlinked evictor plans indexed by app', () => {
  const apps: TestingModule[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });

  it('an app closing while the method runs: the remaining app still busts the old email', async () => {
    db.clear();
    db.set(1, { id: 1, email: 'old@x' });
    const a = await appOn(memoryStore(), uniquePrefix('pa'), [Users]);
    const b = await appOn(memoryStore(), uniquePrefix('pb'), [Users]);
    apps.push(a);
    expect(await a.get(Users).byEmail('old@x')).toEqual({ id: 1, email: 'old@x' });
    expect(await b.get(Users).byEmail('old@x')).toEqual({ id: 1, email: 'old@x' });
    const user = { ...db.get(1)! };
    const done = new Writer().changeEmail(user, 'new@x');
    await b.close(); // app B closes while the write is in flight
    release();
    const outcome = await done.then(
      () => 'ok',
      (e: Error) => `rejected: ${e.constructor.name}: ${e.message}`,
    );
    const after = await a.get(Users).byEmail('old@x');
    expect({ outcome, after }).toEqual({ outcome: 'ok', after: null });
  });

  it('an app opening while the method runs: the old email is still busted in the first app', async () => {
    db.clear();
    db.set(1, { id: 1, email: 'old@x' });
    const a = await appOn(memoryStore(), uniquePrefix('pa'), [Users]);
    apps.push(a);
    expect(await a.get(Users).byEmail('old@x')).toEqual({ id: 1, email: 'old@x' });
    const user = { ...db.get(1)! };
    const done = new Writer().changeEmail(user, 'new@x');
    apps.push(await appOn(memoryStore(), uniquePrefix('pb'), [Users]));
    release();
    const outcome = await done.then(
      () => 'ok',
      (e: Error) => `rejected: ${e.constructor.name}: ${e.message}`,
    );
    const after = await a.get(Users).byEmail('old@x');
    expect({ outcome, after }).toEqual({ outcome: 'ok', after: null });
  });
});
