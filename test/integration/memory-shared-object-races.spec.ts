/*
 * One memoryStore() object given to two apps (supported: they share its entries). A write in app A
 * — a @CachePut, a set, a key or tag invalidation — detached only A's own computations: one in app
 * B that had read the row before the write stored its older value after the write resolved, and
 * calls on B joined it (found by review). Key invalidations and replacements are now marked in the
 * store's versions, which every engine on it checks before storing or letting callers join.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, CachePut, memoryStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { appOn } from '../support/app-on';
import { gate } from '../support/gate';
import { testPolicy } from '../support/policy';

describe.each(['put', 'set', 'invalidateKeys', 'invalidateDeps'])('one memory store, two engines: %s on A', (write) => {
  const setUp = () => {
    const store = memoryStore();
    const [a, b] = [new Memoizer(store, { prefix: 'cm' }), new Memoizer(store, { prefix: 'cm' })];
    const tag = 'cm:~tag:user:1';
    const db = { row: 20 };
    const policy = testPolicy({ ttlMs: 600_000 });
    const scope = { deps: [tag] };
    const [read, mayEnd] = [gate(), gate()];
    // B reads v20 and is still computing.
    const slow = b.getOrSet(
      'cm:user:1',
      async () => {
        const row = db.row;
        read.open();
        await mayEnd.opened;
        return row;
      },
      policy,
      scope,
    );
    const writeOnA = async () => {
      if (write === 'put') return void (await a.put('cm:user:1', async () => (db.row = 21), policy, scope));
      db.row = 21;
      if (write === 'set') await a.refresh('cm:user:1', () => 21, policy, scope);
      else if (write === 'invalidateKeys') await a.invalidateKeys(['cm:user:1']);
      else await a.invalidateDeps([tag]);
    };
    const readOn = (m: Memoizer) => m.getOrSet('cm:user:1', async () => db.row, policy, scope);
    return { a, b, slow, read, mayEnd, writeOnA, readOn };
  };

  it("B's computation that read the row before the write does not store its value over it", async () => {
    const { a, b, slow, read, mayEnd, writeOnA, readOn } = setUp();
    await read.opened;
    await writeOnA(); // resolved
    mayEnd.open();
    expect(await slow).toBe(20); // issued before the write: what it read
    expect({ onA: await readOn(a), onB: await readOn(b) }).toEqual({ onA: 21, onB: 21 });
  });

  it("a call on B issued after the write does not join B's older computation", async () => {
    const { b, slow, read, mayEnd, writeOnA, readOn } = setUp();
    await read.opened;
    await writeOnA();
    const after = readOn(b);
    mayEnd.open();
    expect([await slow, await after]).toEqual([20, 21]);
  });
});

let db = 20;
let hold: { read: ReturnType<typeof gate>; end: ReturnType<typeof gate> } | undefined;

@Injectable()
class Users {
  @CacheMemoize({ ttl: '1h' })
  async user(id: number): Promise<{ id: number; version: number }> {
    const version = db;
    const h = hold;
    if (h !== undefined) {
      hold = undefined;
      h.read.open();
      await h.end.opened;
    }
    return { id, version };
  }
}

@Injectable()
class Writer {
  @CachePut({ method: [Users, 'user'], args: (id: number) => [id] })
  async save(id: number): Promise<{ id: number; version: number }> {
    return { id, version: ++db };
  }
}

it('through Nest: two apps on one memory store object, a @CachePut on A is not undone by B', async () => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  const store = memoryStore();
  const apps: TestingModule[] = [await appOn(store, 'cm', [Users, Writer]), await appOn(store, 'cm', [Users, Writer])];
  const [a, b] = apps;
  try {
    hold = { read: gate(), end: gate() };
    const { read, end } = hold;
    const slow = b.get(Users).user(1); // reads v20, then waits
    await read.opened;
    expect((await a.get(Writer).save(1)).version).toBe(21);
    end.open();
    expect((await slow).version).toBe(20);
    expect((await a.get(Users).user(1)).version).toBe(21);
    expect((await b.get(Users).user(1)).version).toBe(21);
  } finally {
    for (const app of apps) await app.close();
  }
});
