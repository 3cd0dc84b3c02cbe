/*
 * Fourth review of 12e0844: an Observable method's background refresh on a class-instance argument
 * emitted after its caller had reused the object (page 2 stored under page 1's key, 5 of 5): it is
 * now not stored. A Date with own fields (d.tz) was copied without them: it is now passed through.
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { Observable, timer, map } from 'rxjs';
import { CacheMemoize, memoryStore, redisStore, type CacheStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Query {
  constructor(public page: number) {}
}
const ALL = { scope: 'all' }; // a module-level "sentinel" options object (not frozen)

@Injectable()
class Svc {
  gen = 0;
  // Observable + class-instance argument: the argument is read when the pipeline runs
  @CacheMemoize({ ttl: 40, grace: '1h' })
  obs(q: Query): Observable<string> {
    return timer(5).pipe(map(() => `p${q.page}@${this.gen}`));
  }
  // identity-sensitive plain argument
  @CacheMemoize({ ttl: 40, grace: '1h' })
  async list(opts: { scope: string }): Promise<string> {
    await Promise.resolve();
    return `${opts === ALL ? 'ALL' : 'custom'}@${this.gen}`;
  }
  // a Date carrying an extra own property (ignored by the key encoder, dropped by the copy)
  @CacheMemoize({ ttl: 40, grace: '1h' })
  async day(a: { d: Date }): Promise<string> {
    await Promise.resolve();
    return `${(a.d as Date & { tz?: string }).tz ?? 'no-tz'}@${this.gen}`;
  }
  // class-instance argument, ABA: caller changes then restores before the method settles
  @CacheMemoize({ ttl: 40, grace: '1h' })
  async aba(q: Query): Promise<string> {
    await sleep(5);
    const seen = q.page;
    await sleep(20);
    return `p${seen}@${this.gen}`;
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
])('%s', (_name, store) => {
  let app: TestingModule;
  let svc: Svc;
  let warnings: string[];
  beforeEach(async () => {
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    app = await appOn(store(), uniquePrefix('revd'), [Svc]);
    opened.push(app);
    svc = app.get(Svc);
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
