import { StoreFailureError } from '../errors';
import type { CacheStore } from '../types/store';
import type { CircuitBreaker } from './circuit-breaker';
import type { CacheEvent } from '../types/events';

/**
 * Every store operation goes through here: the circuit breaker decides whether to try at all, a
 * timer bounds it (unless the store's client bounds its own commands), and a failure becomes the
 * caller's fallback (reads: a miss, writes: dropped) or, for invalidations, a StoreFailureError.
 */
export class StoreGuard {
  constructor(
    private readonly store: CacheStore,
    private readonly name: string,
    private readonly timeoutMs: number,
    readonly breaker: CircuitBreaker,
    private readonly emit: (event: CacheEvent) => void,
  ) {}

  // Not `async`: on the hit path every extra async frame costs ticks under load.
  run<R>(
    operation: string,
    key: string,
    op: () => Promise<R>,
    fallback: R,
    rethrow = false,
    owner?: string,
  ): Promise<R> {
    if (!this.breaker.allow()) {
      if (rethrow)
        return Promise.reject(
          new StoreFailureError(
            `store '${this.name}' is unavailable (circuit open): ${operation} ${key} was not applied.`,
            undefined,
            { store: this.name, operation },
          ),
        );
      return Promise.resolve(fallback);
    }
    if (this.store.boundsOwnOperations === true) {
      let pending: Promise<R>;
      try {
        pending = op();
      } catch (error) {
        pending = Promise.reject(error);
      }
      return pending.then(
        (result) => {
          this.breaker.success();
          return result;
        },
        (error: unknown) => this.failed(operation, key, error, fallback, rethrow, owner),
      );
    }
    return this.runTimed(operation, key, op, fallback, rethrow, owner);
  }

  private async runTimed<R>(
    operation: string,
    key: string,
    op: () => Promise<R>,
    fallback: R,
    rethrow: boolean,
    owner?: string,
  ): Promise<R> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        op(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${operation} timed out after ${this.timeoutMs} ms`)),
            this.timeoutMs,
          );
          timer.unref?.();
        }),
      ]);
      this.breaker.success();
      return result;
    } catch (error) {
      return this.failed(operation, key, error, fallback, rethrow, owner);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  private failed<R>(operation: string, key: string, error: unknown, fallback: R, rethrow: boolean, owner?: string): R {
    this.breaker.failure(error);
    this.emit({ type: 'error', key, store: this.name, operation, error, owner });
    if (rethrow) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new StoreFailureError(`store '${this.name}' ${operation} failed for ${key}: ${reason}`, error, {
        store: this.name,
        operation,
      });
    }
    return fallback;
  }
}
