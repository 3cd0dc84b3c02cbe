/*
 * A class-level cacheErrors default applies where it can (Promise methods that store their result)
 * and does not fail the boot of a class with an Observable or storeResult: false method; on the
 * method itself it is still refused there (cached-errors.spec). Found by review.
 */
import 'reflect-metadata';
import { Injectable, NotFoundException } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { Observable, of } from 'rxjs';
import { CacheMemoize, memoryStore } from '../../lib';
import { appOn } from '../support/app-on';
import { uniquePrefix } from '../support/shared-servers';

/** Class defaults: 404s cached for every method. One method is an Observable, one stores no result. */
@Injectable()
@CacheMemoize({ ttl: '1m', cacheErrors: { when: [NotFoundException], ttl: '30s' } })
class Catalog {
  @CacheMemoize()
  async product(id: number): Promise<{ id: number }> {
    if (id < 0) throw new NotFoundException();
    return { id };
  }

  @CacheMemoize()
  feed(id: number): Observable<number> {
    return of(id);
  }

  @CacheMemoize({ storeResult: false })
  async warm(id: number): Promise<void> {
    void id;
  }
}

describe('a class-level cacheErrors default', () => {
  let app: TestingModule | undefined;
  afterEach(async () => app?.close());

  it('boots with an Observable method and a storeResult: false method in the class (default not applicable to them)', async () => {
    const booted = await appOn(memoryStore(), uniquePrefix('clserr'), [Catalog]).then(
      (m) => ((app = m), 'booted'),
      (e: Error) => e.message,
    );
    expect(booted).toBe('booted');
  });
});
