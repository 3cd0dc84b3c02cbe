/*
 * What a background refresh (grace) runs its method on. Review of 5d1c977 found: a method that
 * normalises its own class-instance argument had every background refresh refused, with a warning
 * blaming the caller (now compared with the argument once the method's synchronous part ran); and a
 * batch miss loaded with a background refresh got copies of its caller's id objects (a chunk is
 * copied only when all its items are background refreshes). Also: a plain miss passes the caller's
 * own object, and batch id objects and rest arguments reused by the caller under grace. Fourth
 * review of 12e0844: an Observable method's background refresh on a class-instance argument emitted
 * after its caller had reused the object (page 2 stored under page 1's key, 5 of 5): it is now not
 * stored. A Date with own fields (d.tz) was copied without them: it is now passed through.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { Observable, map, timer } from 'rxjs';
import { CacheMemoize, CacheMemoizeMany, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Search {
  constructor(public term: string) {}
}

class Query {
  constructor(public page: number) {}
}

const passed: unknown[] = [];

@Injectable()
class Svc {
  gen = 0;
  runs = 0;

  @CacheMemoize({ ttl: 40, grace: '1h' })
  async find(q: { page: number }): Promise<string> {
    passed.push(q);
    await Promise.resolve();
    return `p${q.page}@${this.gen}`;
  }

  /** An Observable on a class-instance argument: the argument is read when the pipeline runs. */
  @CacheMemoize({ ttl: 40, grace: '1h' })
  obs(q: Query): Observable<string> {
    return timer(5).pipe(map(() => `p${q.page}@${this.gen}`));
  }

  /** A Date carrying an own field, which the key does not encode. */
  @CacheMemoize({ ttl: 40, grace: '1h' })
  async day(a: { d: Date }): Promise<string> {
    await Promise.resolve();
    return `${(a.d as Date & { tz?: string }).tz ?? 'no-tz'}@${this.gen}`;
  }

  /** Normalises its own argument (trim/lowercase), as DTO-handling code does. */
  @CacheMemoize({ ttl: 40, grace: '1h' })
  async search(s: Search): Promise<string> {
    s.term = s.term.trim().toLowerCase();
    this.runs++;
    await Promise.resolve();
    return `${s.term}@${this.gen}`;
  }

  @CacheMemoizeMany({ ttl: 40, grace: '1h' })
  async many(ids: Array<{ id: number }>, ctx: { currency: string }): Promise<string[]> {
    passed.push(...ids);
    await sleep(1);
    return ids.map((x) => `${x.id} ${ctx.currency}@${this.gen}`);
  }
}

const opened: TestingModule[] = [];
afterEach(async () => {
  jest.restoreAllMocks();
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

describe.each<[string, () => CacheStore]>([
  ['memory', () => memoryStore()],
  ['redis', () => redisStore({ url: servers.redis })],
])('%s', (name, store) => {
  let app: TestingModule;
  let svc: Svc;
  let warnings: string[];
  beforeEach(async () => {
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    app = await appOn(store(), uniquePrefix('bgargs'), [Svc]);
    opened.push(app);
    svc = app.get(Svc);
  });

  it('a plain miss gets the caller’s own object', async () => {
    passed.length = 0;
    const q = { page: 1 };
    await svc.find(q);
    expect(passed[0]).toBe(q);
  });

  it('a method normalising its class-instance argument: background refreshes', async () => {
    svc.runs = 0;
    const first = await svc.search(new Search('  Foo '));
    await settle(app);
    const seen: string[] = [first];
    for (let round = 1; round <= 5; round++) {
      await sleep(60);
      svc.gen = round;
      seen.push(await svc.search(new Search('  Foo ')));
      await settle(app);
    }
    const after = await svc.search(new Search('  Foo '));
    expect(after).toBe('foo@5');
    expect(seen.slice(2)).toEqual(['foo@1', 'foo@2', 'foo@3', 'foo@4']); // each round's refresh was stored
    expect(warnings.filter((w) => w.includes('argument changed'))).toEqual([]);
  });

  it('batch: a miss in the same chunk as a background refresh gets the caller’s id objects', async () => {
    const ctx = { currency: 'EUR' };
    await svc.many([{ id: 1 }], ctx);
    await settle(app);
    await sleep(60);
    passed.length = 0;
    const a = { id: 1 };
    const b = { id: 2 }; // a miss
    await svc.many([a, b], ctx);
    await settle(app);
    const gotB = passed.filter((x) => (x as { id: number }).id === 2);
    expect(gotB.every((x) => x === b)).toBe(true);
  });

  it('batch under grace: caller reuses its id objects and ctx in a loop', async () => {
    const N = 4;
    for (let i = 0; i < N; i++) await svc.many([{ id: i }], { currency: 'EUR' });
    await settle(app);
    let wrong = 0;
    for (let round = 1; round <= 4; round++) {
      await sleep(60);
      svc.gen = round;
      const id = { id: 0 };
      const ctx = { currency: 'EUR' };
      for (let i = 0; i < N; i++) {
        id.id = i;
        await svc.many([id], ctx);
        ctx.currency = 'EUR'; // touched, same value
      }
      await settle(app);
      for (let i = 0; i < N; i++) {
        const [v] = await svc.many([{ id: i }], { currency: 'EUR' });
        if (!v.startsWith(`${i} EUR@`)) wrong++;
      }
    }
    expect(wrong).toBe(0);
  });

  it('observable + class-instance arg reused by caller under grace', async () => {
    const readObs = (q: Query) => new Promise<string>((r) => svc.obs(q).subscribe((v) => r(v)));
    await readObs(new Query(1));
    await settle(app);
    let wrong = 0;
    for (let round = 1; round <= 5; round++) {
      await sleep(60);
      svc.gen = round;
      const q = new Query(1);
      await readObs(q); // stale served, refresh starts
      q.page = 2; // reused
      await settle(app);
      const v = await readObs(new Query(1));
      if (!v.startsWith('p1@')) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it('Date with own property', async () => {
    const mk = () => {
      const d = new Date(0) as Date & { tz?: string };
      d.tz = 'Europe/Paris';
      return { d };
    };
    const seen = [await svc.day(mk())];
    await settle(app);
    for (let round = 1; round <= 3; round++) {
      await sleep(60);
      svc.gen = round;
      seen.push(await svc.day(mk()));
      await settle(app);
    }
    expect(seen.every((s) => s.startsWith('Europe/Paris'))).toBe(true);
  });
});
