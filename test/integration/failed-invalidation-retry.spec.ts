import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, InvalidationService, redisStore, StoreFailureError, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/*
 * A failed invalidation is retried until the store takes it, whatever else writes the same tag in
 * between: a retry of an earlier failure, or another invalidation that succeeds. Before the fix,
 * either one took the tag off the failed list when it landed, though a later invalidation of it
 * had failed meanwhile: that one was never written, and a value computed before it was served by
 * every instance for its whole ttl. Real Redis; one instance's store refuses or holds chosen writes.
 */

const servers = sharedServers();

/** What the database holds; the memoized method reads it. */
const db = { name: 'v1' };

@Injectable()
class UserService {
  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`user:${id}`] })
  async getUser(id: number): Promise<{ id: number; name: string }> {
    return { id, name: db.name };
  }
}

/** A Redis store whose next tag-record write can be refused, and whose epoch write after a tag write can be held. */
function flaky(inner: CacheStore) {
  const ctl = {
    failNextTagSet: false,
    /** Every tag-record write is refused while set. */
    refuseTagSets: false,
    /** Every write is refused while set (a Redis out of memory under noeviction). */
    refuseSets: false,
    /** The next tag-record write waits for this promise, then is refused. */
    holdThenRefuse: undefined as undefined | Promise<void>,
    holdEpochAfterTag: false,
    sawTagSet: false,
    release: undefined as undefined | (() => void),
    reached: undefined as undefined | (() => void),
  };
  const store: CacheStore = {
    kind: 'flaky-redis',
    boundsOwnOperations: true,
    get: (k) => inner.get(k),
    getMany: (k) => inner.getMany(k),
    add: (k, v, t) => inner.add(k, v, t),
    delete: (k) => inner.delete(k),
    deleteMany: (k) => inner.deleteMany(k),
    clear: (p) => inner.clear(p),
    disconnect: () => inner.disconnect(),
    compareAndDelete: inner.compareAndDelete?.bind(inner),
    compareAndSet: inner.compareAndSet?.bind(inner),
    touch: inner.touch?.bind(inner),
    ready: inner.ready?.bind(inner),
    async set(k, v, t) {
      if (ctl.refuseSets) throw new Error('injected: OOM command not allowed');
      if (k.includes(':~tag:')) {
        const held = ctl.holdThenRefuse;
        if (held !== undefined) {
          ctl.holdThenRefuse = undefined;
          await held;
          throw new Error('injected: tag write refused after a wait');
        }
        if (ctl.failNextTagSet || ctl.refuseTagSets) {
          ctl.failNextTagSet = false;
          throw new Error('injected: tag write refused');
        }
        await inner.set(k, v, t);
        if (ctl.holdEpochAfterTag) ctl.sawTagSet = true;
        return;
      }
      if (k.endsWith(':~epoch') && ctl.holdEpochAfterTag && ctl.sawTagSet) {
        ctl.holdEpochAfterTag = false;
        await new Promise<void>((r) => {
          ctl.release = r;
          ctl.reached?.();
        });
      }
      return inner.set(k, v, t);
    },
  };
  /** Holds the next invalidation between its tag write and its last epoch write; resolves once there. */
  const holdNext = () =>
    new Promise<void>((r) => {
      ctl.sawTagSet = false;
      ctl.holdEpochAfterTag = true;
      ctl.reached = r;
    });
  return { store, ctl, holdNext };
}

async function eventually<T>(read: () => Promise<T>, want: T, ms: number): Promise<T> {
  let last = await read();
  for (const end = Date.now() + ms; Date.now() < end && JSON.stringify(last) !== JSON.stringify(want);) {
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

describe('a failed invalidation while another write of the same tag is under way (Redis, two instances)', () => {
  let apps: TestingModule[] = [];
  beforeAll(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(async () => {
    await Promise.all(apps.map((a) => a.close()));
    apps = [];
  });

  async function twoInstances(name: string) {
    const prefix = uniquePrefix(name);
    const fa = flaky(redisStore({ url: servers.redis }));
    const a = await appOn(fa.store, prefix, [UserService]);
    const b = await appOn(redisStore({ url: servers.redis }), prefix, [UserService]);
    apps = [a, b];
    db.name = 'v1';
    expect(await b.get(UserService).getUser(1)).toEqual({ id: 1, name: 'v1' });
    await settle(b);
    return { fa, a, b, inv: a.get(InvalidationService), sb: b.get(UserService) };
  }

  it.each(['the background retry of an earlier failure', 'another invalidation that succeeds'])(
    'is still retried when %s lands after it failed',
    async (other) => {
      const { fa, a, b, inv, sb } = await twoInstances('retryrace');
      db.name = 'v2';
      let landed: Promise<unknown>;
      if (other === 'the background retry of an earlier failure') {
        fa.ctl.failNextTagSet = true;
        await expect(inv.invalidateTags(['user:1'])).rejects.toBeInstanceOf(StoreFailureError);
        const held = fa.holdNext(); // the retry (about 1 s later) is held before its last epoch write
        await held;
        landed = Promise.resolve();
      } else {
        const held = fa.holdNext();
        landed = inv.invalidateTags(['user:1']);
        await held;
      }
      // Meanwhile instance B reads v2 and caches it under the new tag token.
      expect(await sb.getUser(1)).toEqual({ id: 1, name: 'v2' });
      await settle(b);
      // The data changes again, and A's invalidation of it fails: A says it will retry it.
      db.name = 'v3';
      fa.ctl.failNextTagSet = true;
      await expect(inv.invalidateTags(['user:1'])).rejects.toBeInstanceOf(StoreFailureError);
      fa.ctl.release!(); // the other write lands
      await landed;
      // The retry (1-2 s back-off) writes the second invalidation: v2 is served nowhere after it.
      expect(await eventually(() => sb.getUser(1), { id: 1, name: 'v3' }, 6_000)).toEqual({ id: 1, name: 'v3' });
      await settle(a, b);
      expect(await a.get(UserService).getUser(1)).toEqual({ id: 1, name: 'v3' });
    },
    20_000,
  );
});

/*
 * Shutdown with a failed invalidation not yet retried. Before, the retry waiting for its back-off
 * was cancelled silently: B served the old value for the entry's whole ttl with nothing in A's log,
 * and an invalidation failing during shutdown said it would be retried in the background.
 */
describe('shutdown with a failed invalidation (Redis, two instances)', () => {
  let apps: TestingModule[] = [];
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  let closeA: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await closeA?.(); // a test that failed before closing A
    await Promise.all(apps.map((a) => a.close()));
    apps = [];
    jest.restoreAllMocks();
  });

  async function twoInstances(name: string) {
    const prefix = uniquePrefix(name);
    const fa = flaky(redisStore({ url: servers.redis }));
    const a = await appOn(fa.store, prefix, [UserService]);
    const b = await appOn(redisStore({ url: servers.redis }), prefix, [UserService]);
    apps = [b];
    db.name = 'v1';
    expect(await b.get(UserService).getUser(1)).toEqual({ id: 1, name: 'v1' });
    await settle(b);
    let open = true;
    closeA = async () => {
      if (open) await a.close();
      open = false;
    };
    return { fa, a: { close: closeA }, inv: a.get(InvalidationService), sb: b.get(UserService) };
  }

  const shutdownWarnings = () =>
    warn.mock.calls.map((c: unknown[]) => String(c[0])).filter((m) => m.includes('shutting down with invalidations'));

  it('the store answers again: the invalidation is written at shutdown, not dropped with its back-off', async () => {
    const { fa, a, inv, sb } = await twoInstances('shutretry');
    db.name = 'v2';
    fa.ctl.failNextTagSet = true;
    await expect(inv.invalidateTags(['user:1'])).rejects.toThrow(/retries in the background/);
    await a.close(); // at once: the retry's back-off (1 s) has not run out
    expect(await sb.getUser(1)).toEqual({ id: 1, name: 'v2' });
    expect(shutdownWarnings()).toEqual([]);
  });

  it('an outage opened the circuit and the store is back: the last try reaches the store, not skipped as the circuit says', async () => {
    const { fa, a, inv, sb } = await twoInstances('shutcircuit');
    const error = jest.mocked(Logger.prototype.error);
    db.name = 'v2';
    fa.ctl.refuseSets = true;
    for (let i = 0; i < 3; i++) await expect(inv.invalidateTags(['user:1'])).rejects.toBeInstanceOf(StoreFailureError);
    expect(error.mock.calls.map((c) => String(c[0]))).toContainEqual(
      expect.stringMatching(/^store 'default' is failing \(3 consecutive errors/),
    );
    fa.ctl.refuseSets = false;
    await a.close(); // within the circuit's 1 s cooldown
    expect(await sb.getUser(1)).toEqual({ id: 1, name: 'v2' });
    expect(shutdownWarnings()).toEqual([]);
  });

  it('an invalidation under way at close is waited for, and named when it fails', async () => {
    const { fa, a, inv } = await twoInstances('shutinflight');
    let release!: () => void;
    fa.ctl.holdThenRefuse = new Promise<void>((r) => (release = r));
    const pending = inv.invalidateTags(['user:3']);
    const closed = a.close();
    setTimeout(release, 100); // well within shutdown's wait (1 s)
    await expect(pending).rejects.toThrow(/is shutting down and does not retry it/);
    await closed;
    expect(shutdownWarnings()).toEqual([expect.stringContaining('user:3')]);
  });

  it('the store still refuses: shutdown says which invalidation was never written, and one failing after it promises no retry', async () => {
    const { fa, a, inv, sb } = await twoInstances('shutrefused');
    db.name = 'v2';
    fa.ctl.refuseTagSets = true;
    await expect(inv.invalidateTags(['user:1'])).rejects.toThrow(/retries in the background/);
    await a.close();
    expect(shutdownWarnings()).toEqual([
      expect.stringMatching(
        /^store 'default': shutting down with invalidations never written \(.*user:1.*\); other instances sharing the store may serve/,
      ),
    ]);
    expect(await sb.getUser(1)).toEqual({ id: 1, name: 'v1' }); // what the warning is about
    const late = inv.invalidateTags(['user:2']);
    await expect(late).rejects.toBeInstanceOf(StoreFailureError);
    await expect(late).rejects.toThrow(/is shutting down and does not retry it/);
    await expect(late).rejects.not.toThrow(/retries in the background/);
  });
});
