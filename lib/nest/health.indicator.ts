import { Injectable } from '@nestjs/common';
import { CacheMemoizeEngine } from './cache-memoize.engine';

/** A @nestjs/terminus-style result: `{ [key]: { status: 'up' | 'down', ...details } }`. */
export type CacheHealthResult = Record<string, { status: 'up' | 'down'; [detail: string]: unknown }>;

/**
 * Health of each store for `@nestjs/terminus` (no import of it needed): a ping with a timeout,
 * plus the circuit breaker's state.
 *
 *   this.health.check([() => this.cacheHealth.isHealthy('shared')])
 */
@Injectable()
export class CacheMemoizeHealthIndicator {
  constructor(private readonly engine: CacheMemoizeEngine) {}

  async isHealthy(store?: string, options: { timeoutMs?: number; key?: string } = {}): Promise<CacheHealthResult> {
    const memoizer = this.engine.memoizer(store, 'CacheMemoizeHealthIndicator');
    const key = options.key ?? `cache:${memoizer.name}`;
    const details = { kind: memoizer.store.kind, circuit: memoizer.breaker.state };
    if (memoizer.breaker.state === 'open')
      return { [key]: { status: 'down', ...details, message: 'circuit open: the store failed repeatedly' } };
    const timeoutMs = options.timeoutMs ?? 1_000;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        memoizer.store.get(`${this.engine.prefix}:~health`),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return { [key]: { status: 'up', ...details, latencyMs: Math.round((performance.now() - started) * 100) / 100 } };
    } catch (error) {
      return { [key]: { status: 'down', ...details, message: error instanceof Error ? error.message : String(error) } };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every configured store. */
  async all(options: { timeoutMs?: number } = {}): Promise<CacheHealthResult> {
    const results = await Promise.all(this.engine.storeNames().map((name) => this.isHealthy(name, options)));
    return Object.assign({}, ...results) as CacheHealthResult;
  }
}
