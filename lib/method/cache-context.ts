import type { FactoryControl } from '../engine/factory-control';
import { currentControl } from '../engine/reentry';
import { CacheContextError } from '../errors';
import { tagKeysFor } from '../keys/keys';
import { parseDuration, type Duration } from '../util/duration';

/** What a memoized computation can say about its own entry (bentocache's ctx, memoize's ttl()). */
export interface CacheContext {
  /** This entry's time to live instead of the method's (0: do not store it). */
  setTtl(ttl: Duration): void;
  /** This entry's grace instead of the method's. */
  setGrace(grace: Duration): void;
  /** More tags for this entry (known while computing, e.g. from rows read). */
  addTags(...tags: string[]): void;
  /** Return the value, but store nothing (a result not worth caching: empty, partial, an error page). */
  skip(): void;
  /**
   * Fail the computation: throws `error` (or an Error naming the method). Nothing is stored; a
   * stale value within grace keeps being served to the callers that get stale values.
   */
  fail(error?: unknown): never;
}

class Context implements CacheContext {
  constructor(private readonly control: FactoryControl) {}

  /** The computation's control while it runs; after it settled, what it says would be lost: refused. */
  private get open(): FactoryControl {
    const { control } = this;
    if (control.closed)
      throw new CacheContextError(
        `cacheContext() of ${control.owner} is used after its computation returned, so nothing would read it: ` +
          'await the work that decides (setTtl, setGrace, addTags, skip) before the method returns.',
      );
    return control;
  }

  setTtl(ttl: Duration): void {
    this.open.ttlMs = parseDuration(ttl, `cacheContext().setTtl in ${this.control.owner}`, { allowZero: true });
  }

  setGrace(grace: Duration): void {
    this.open.graceMs = parseDuration(grace, `cacheContext().setGrace in ${this.control.owner}`, {
      allowZero: true,
    });
  }

  addTags(...tags: string[]): void {
    const control = this.open;
    const keys = tagKeysFor(control.prefix, tags, `cacheContext().addTags in ${control.owner}`);
    control.deps = [...(control.deps ?? []), ...keys];
  }

  skip(): void {
    this.open.skipped = true;
  }

  fail(error?: unknown): never {
    this.open.skipped = true;
    throw error ?? new Error(`${this.control.owner} failed (cacheContext().fail())`);
  }
}

/**
 * The context of the memoized computation running now. Call it at the start of the method, before
 * its first `await`, and keep the handle: `const cache = cacheContext(); const row = await ...;
 * if (!row) cache.skip();`. Called anywhere else it throws CacheContextError: there is no
 * computation it could speak for (the library does not use AsyncLocalStorage, which would slow
 * every promise of the process).
 */
export function cacheContext(): CacheContext {
  const control = currentControl();
  if (control === undefined) {
    throw new CacheContextError(
      'cacheContext() is called outside the start of a memoized computation: call it in the memoized method ' +
        '(or a getOrSet factory) before its first await, and keep the handle — const cache = cacheContext(); ' +
        'const row = await this.repo.find(id); if (!row) cache.skip();. A call answered from the cache runs no computation.',
    );
  }
  return new Context(control);
}
