import 'reflect-metadata';
import { Injectable, Logger, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Observable, firstValueFrom, lastValueFrom, of, toArray } from 'rxjs';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeErrorCode,
  CacheMemoizeModule,
  InvalidationService,
  memoryStore,
  type CacheMemoizeModuleOptions,
} from 'nestjs-cache-memoize';

@Injectable()
class UserService {
  calls = 0;
  syncCalls = 0;
  obsCalls = 0;

  @CacheMemoize({ ttl: '1m', tags: (id: number) => [`user:${id}`] })
  async getUser(id: number): Promise<{ id: number; n: number }> {
    this.calls++;
    return { id, n: this.calls };
  }

  @CacheMemoize()
  fullName(first: string, last: string): string {
    this.syncCalls++;
    return `${first} ${last}#${this.syncCalls}`;
  }

  @CacheMemoize()
  stream(n: number): Observable<number> {
    this.obsCalls++;
    return of(n, n + 1, n + 2);
  }

  @CacheMemoize()
  async fails(): Promise<number> {
    this.calls++;
    throw new Error('boom');
  }
}

async function boot(providers: Function[], options: CacheMemoizeModuleOptions = {}) {
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot(options)],
    providers: providers as never[],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe('CacheMemoizeModule with @CacheMemoize on providers', () => {
  it('memoizes async methods by arguments and invalidates by tag', async () => {
    const app = await boot([UserService]);
    const svc = app.get(UserService);
    const inv = app.get(InvalidationService);
    expect(await svc.getUser(1)).toEqual({ id: 1, n: 1 });
    expect(await svc.getUser(1)).toEqual({ id: 1, n: 1 });
    expect(await svc.getUser(2)).toEqual({ id: 2, n: 2 });
    expect(svc.calls).toBe(2);
    await inv.invalidateTags(['user:1']);
    expect(await svc.getUser(1)).toEqual({ id: 1, n: 3 });
    expect(await svc.getUser(2)).toEqual({ id: 2, n: 2 });
    await app.close();
  });

  it('keeps sync methods sync and replays observables', async () => {
    const app = await boot([UserService]);
    const svc = app.get(UserService);
    const a = svc.fullName('Ada', 'Lovelace');
    expect(a).toBe('Ada Lovelace#1');
    expect(svc.fullName('Ada', 'Lovelace')).toBe('Ada Lovelace#1');
    expect(svc.syncCalls).toBe(1);
    expect(await lastValueFrom(svc.stream(1).pipe(toArray()))).toEqual([1, 2, 3]);
    expect(await lastValueFrom(svc.stream(1).pipe(toArray()))).toEqual([1, 2, 3]);
    expect(await firstValueFrom(svc.stream(1))).toBe(1);
    expect(svc.obsCalls).toBe(1);
    await app.close();
  });

  it('does not cache failures', async () => {
    const app = await boot([UserService]);
    const svc = app.get(UserService);
    await expect(svc.fails()).rejects.toThrow('boom');
    await expect(svc.fails()).rejects.toThrow('boom');
    expect(svc.calls).toBe(2);
    await app.close();
  });
});
