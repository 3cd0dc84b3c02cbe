/*
 * cacheErrors at its edges (found by review; each case failed before its fix):
 * - a rolling deploy: v2 adds cacheErrors, v1 still runs on the same store — v1 must throw the
 *   cached error, not resolve with its record as the method's value;
 * - an error cached for its own ttl is not kept past it as a stale-if-error fallback;
 * - a synchronous throw from a Promise-returning method is cached as a rejection is;
 * - a `when` predicate that throws leaves the caller the method's own error;
 * - options that cannot work are refused at bootstrap, naming the method: `when: Cls` (not
 *   `[Cls]`), cacheErrors with storeResult: false (the error came back as a success), and on a
 *   method returning an Observable (cacheErrors was silently ignored).
 */
import 'reflect-metadata';
import { Injectable, Logger, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { Observable, throwError } from 'rxjs';
import {
  CacheMemoize,
  InvalidOptionError,
  memcachedStore,
  memoryStore,
  redisStore,
  tieredStore,
  type CacheStore,
} from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const shared: Array<[string, () => CacheStore]> = [
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
  ['tiered', () => tieredStore(memoryStore(), redisStore({ url: servers.redis }))],
];
const all: Array<[string, () => CacheStore]> = [['memory', () => memoryStore()], ...shared];

let warnings: string[];
beforeEach(() => {
  warnings = [];
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(((m: string) => void warnings.push(String(m))) as never);
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

/** v1 and v2 of one method (same namespace): v2 added cacheErrors. */
@Injectable()
class CatalogV1 {
  runs = 0;
  @CacheMemoize({ ttl: '1m', namespace: 'Catalog.product' })
  async product(id: number): Promise<{ id: number }> {
    this.runs++;
    if (id === 404) throw new NotFoundException(`no product ${id}`);
    return { id };
  }
}

@Injectable()
class CatalogV2 {
  @CacheMemoize({ ttl: '1m', namespace: 'Catalog.product', cacheErrors: { when: [NotFoundException], ttl: '1m' } })
  async product(id: number): Promise<{ id: number }> {
    if (id === 404) throw new NotFoundException(`no product ${id}`);
    return { id };
  }
}

describe.each(shared)('a rolling deploy that adds cacheErrors, on %s', (_name, make) => {
  it('the instance without cacheErrors throws the cached error, never returns its record as the value', async () => {
    const prefix = uniquePrefix('deploy');
    const v1 = await appOn(make(), prefix, [CatalogV1]);
    const v2 = await appOn(make(), prefix, [CatalogV2]);
    try {
      await expect(v2.get(CatalogV2).product(404)).rejects.toBeInstanceOf(NotFoundException);
      await settle(v2);
      const got = await v1
        .get(CatalogV1)
        .product(404)
        .then(
          (value) => ({ resolved: value as unknown }),
          (error: unknown) => ({ rejected: (error as Error).name, status: (error as NotFoundException).getStatus() }),
        );
      expect(got).toEqual({ rejected: 'NotFoundException', status: 404 });
      // Again: on a tiered store, from wherever the first read left it (an L1 copy must not return it).
      await settle(v1);
      await expect(v1.get(CatalogV1).product(404)).rejects.toBeInstanceOf(NotFoundException);
      expect(await v1.get(CatalogV1).product(1)).toEqual({ id: 1 }); // values still pass
    } finally {
      await v1.close();
      await v2.close();
    }
  });
});

@Injectable()
class Products {
  runs = 0;
  state: 'missing' | 'down' = 'missing';

  @CacheMemoize({ ttl: '1m', staleIfError: '1h', cacheErrors: { when: [NotFoundException], ttl: 50 } })
  async product(id: number): Promise<{ id: number }> {
    this.runs++;
    if (this.state === 'missing') throw new NotFoundException(`no product ${id}`);
    throw new ServiceUnavailableException('catalog down');
  }

  @CacheMemoize({ ttl: '1m', cacheErrors: { when: [NotFoundException], ttl: '1m' } })
  guarded(id: number): Promise<{ id: number }> {
    this.runs++;
    if (id < 0) throw new NotFoundException(`no product ${id}`); // an argument check before any I/O
    return Promise.resolve({ id });
  }
}

describe.each(all)('cached errors, on %s', (_name, make) => {
  let app: TestingModule;
  beforeEach(async () => {
    app = await appOn(make(), uniquePrefix('errs'), [Products]);
  });
  afterEach(() => app.close());

  it('an error past its own ttl is not served as the stale-if-error fallback of a later failure', async () => {
    const p = app.get(Products);
    await expect(p.product(1)).rejects.toBeInstanceOf(NotFoundException);
    await settle(app);
    await sleep(120); // the 404's own ttl (50 ms) is over
    p.state = 'down';
    const got = await p.product(1).catch((e: unknown) => (e as Error).constructor.name);
    expect(got).toBe('ServiceUnavailableException');
    expect(p.runs).toBe(2);
  });

  it('a matching error thrown synchronously is cached as a rejection is', async () => {
    const p = app.get(Products);
    await expect(p.guarded(-1)).rejects.toBeInstanceOf(NotFoundException);
    await settle(app);
    await expect(p.guarded(-1)).rejects.toBeInstanceOf(NotFoundException);
    expect(p.runs).toBe(1);
  });
});

class UpstreamError extends Error {
  constructor(readonly response: { status: number }) {
    super(`upstream answered ${response.status}`);
  }
}

@Injectable()
class Upstream {
  @CacheMemoize({
    ttl: '1m',
    // Written for the upstream client's errors; a bug elsewhere throws a RangeError without `response`.
    cacheErrors: { when: (e: unknown) => (e as UpstreamError).response.status === 404, ttl: '1m' },
  })
  async fetch(id: number): Promise<number> {
    if (id === 404) throw new UpstreamError({ status: 404 });
    throw new RangeError(`id ${id} out of range`);
  }
}

describe.each(all)('a cacheErrors.when that throws, on %s', (_name, make) => {
  it("the caller gets the method's own error, and one warning names the method", async () => {
    const app = await appOn(make(), uniquePrefix('when-throws'), [Upstream]);
    try {
      const u = app.get(Upstream);
      await expect(u.fetch(404)).rejects.toBeInstanceOf(UpstreamError);
      for (let i = 0; i < 3; i++) {
        const error = await u.fetch(7).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RangeError);
        expect((error as Error).message).toBe('id 7 out of range');
      }
      const about = warnings.filter((w) => w.includes('cacheErrors.when threw'));
      expect(about).toHaveLength(1);
      expect(about[0]).toContain('Upstream.fetch');
    } finally {
      await app.close();
    }
  });
});

@Injectable()
class OneClass {
  @CacheMemoize({ ttl: '1m', cacheErrors: { when: NotFoundException as never, ttl: '1m' } })
  async product(id: number): Promise<number> {
    return id;
  }
}

@Injectable()
class Mailer {
  @CacheMemoize({ ttl: '1h', storeResult: false, cacheErrors: { when: [ServiceUnavailableException], ttl: '1m' } })
  async sendDigest(user: number): Promise<void> {
    void user;
  }
}

@Injectable()
class Streams {
  @CacheMemoize({ ttl: '1m', cacheErrors: { when: [NotFoundException], ttl: '1m' } })
  feed(id: number): Observable<number> {
    return throwError(() => new NotFoundException(`no feed ${id}`));
  }
}

describe('cacheErrors options that cannot work fail the boot, naming the method', () => {
  it.each([
    [
      'when: a class instead of [class]',
      OneClass,
      /OneClass\.product: option cacheErrors\.when is the error class NotFoundException.*\[NotFoundException\]/,
    ],
    ['with storeResult: false', Mailer, /Mailer\.sendDigest: options cacheErrors and storeResult: false/],
    [
      'on a method returning an Observable',
      Streams,
      /Streams\.feed: option cacheErrors applies to methods that return a Promise/,
    ],
  ])('%s', async (_case, cls, message) => {
    const boot = appOn(memoryStore(), uniquePrefix('errs-bad'), [cls]);
    await expect(boot).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(boot).rejects.toThrow(message);
  });
});
