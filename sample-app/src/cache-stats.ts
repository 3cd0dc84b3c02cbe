import { Logger } from '@nestjs/common';
import type { CacheEvent } from 'nestjs-cache-memoize';

/** Counts and logs cache events so the sample shows hits and misses as they happen. */
export class CacheStats {
  static readonly counts: Record<string, number> = { hit: 0, miss: 0, set: 0, invalidate: 0, error: 0 };
  private static readonly logger = new Logger('Cache');

  static record(event: CacheEvent): void {
    CacheStats.counts[event.type] = (CacheStats.counts[event.type] ?? 0) + 1;
    if (event.type === 'hit' || event.type === 'miss') {
      CacheStats.logger.log(`${event.type.toUpperCase().padEnd(4)} ${event.key} (store '${event.store}')`);
    } else if (event.type === 'invalidate') {
      // One event per store the invalidation reached (every store by default).
      CacheStats.logger.log(
        `INVALIDATE ${event.tags?.join(', ') ?? event.keys?.join(', ') ?? event.prefix} in store '${event.store}'`,
      );
    }
  }
}
