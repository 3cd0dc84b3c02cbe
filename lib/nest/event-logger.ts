import type { Logger } from '@nestjs/common';
import { UncacheableValueError } from '../errors';
import type { CacheEvent } from '../types/events';

const ERROR_LOG_INTERVAL_MS = 60_000;
/** A store that fails again within this long after it answered is still the same outage. */
const OUTAGE_SETTLE_MS = 10_000;

interface Outage {
  since: number;
  skipped: number;
  /** Pending "answers again" line, written once the store has stayed up for OUTAGE_SETTLE_MS. */
  recovered?: NodeJS.Timeout;
}

/**
 * Turns engine events into log lines a person can act on: an outage is logged when it starts and
 * once when the store has answered steadily again (a store that flaps is one outage, not one line
 * per flap); other store errors once a minute per store and operation, with a count; a value
 * that cannot be stored once per method and class.
 */
export class EventLogger {
  private readonly outages = new Map<string, Outage>();
  private readonly lastError = new Map<string, { at: number; suppressed: number }>();
  private readonly warnedUncacheable = new Set<string>();
  /** Shutdown under way: stores being closed fail on purpose. */
  closing = false;

  constructor(private readonly logger: Logger) {}

  handle(event: CacheEvent, circuitClosed: (store: string) => boolean): void {
    if (event.type === 'uncacheable') this.uncacheable(event);
    else if (event.type === 'circuit') this.circuit(event);
    // Someone else wrote under our keys: worth a line (rate-limited), never a failed call.
    else if (event.type === 'tampered')
      this.error({
        ...event,
        type: 'error',
        operation: 'verify',
        error: new Error(
          event.reason === 'unsigned'
            ? 'entry is not signed (written without the secret: another app, or a build without it); recomputed'
            : 'entry signature does not verify (tampered, or signed with a secret not configured here); recomputed',
        ),
      });
    // The caller got a stale value instead of the method's error: the error still deserves a line,
    // one that names the method (the store did nothing wrong).
    else if (event.type === 'stale-if-error') this.staleServed(event);
    // 'key' errors are the method's own (it warns once, naming the argument): the store did nothing.
    else if (
      event.type === 'error' &&
      event.operation !== 'key' &&
      !this.closing &&
      circuitClosed(event.store) &&
      !this.outages.has(event.store)
    )
      this.error(event);
  }

  close(): void {
    this.closing = true;
    for (const outage of this.outages.values()) clearTimeout(outage.recovered);
  }

  private circuit(event: Extract<CacheEvent, { type: 'circuit' }>): void {
    if (this.closing) return;
    const outage = this.outages.get(event.store);
    if (event.state === 'open') {
      if (outage !== undefined) {
        // Failing again before it settled: the same outage.
        clearTimeout(outage.recovered);
        outage.recovered = undefined;
        return;
      }
      this.outages.set(event.store, { since: Date.now() - 0, skipped: 0 });
      const reason = event.error instanceof Error ? event.error.message : String(event.error);
      this.logger.error(
        `store '${event.store}' is failing (${event.failures} consecutive errors, last: ${reason}); memoized calls run uncached until it answers again.`,
      );
      return;
    }
    if (outage === undefined) return;
    outage.skipped += event.skipped;
    clearTimeout(outage.recovered);
    outage.recovered = setTimeout(() => {
      this.outages.delete(event.store);
      const downFor = Date.now() - outage.since - OUTAGE_SETTLE_MS;
      this.logger.log(
        `store '${event.store}' answers again after ${Math.max(0, Math.round(downFor))} ms; ${outage.skipped} store calls were skipped meanwhile.`,
      );
    }, OUTAGE_SETTLE_MS);
    outage.recovered.unref?.();
  }

  private staleServed(event: Extract<CacheEvent, { type: 'stale-if-error' }>): void {
    const suppressed = this.suppressed(`stale:${event.owner ?? event.store}`);
    if (suppressed === undefined) return;
    const reason = event.error instanceof Error ? event.error.message : String(event.error);
    this.logger.warn(
      `${event.owner ?? 'a cached computation'} failed (key ${event.key}); served the expired value kept for ` +
        `staleIfError instead${suppressed}. The error: ${reason}`,
    );
  }

  /** Other errors are logged once per store and operation per minute, with a count, not per call. */
  private error(event: Extract<CacheEvent, { type: 'error' }>): void {
    const suppressed = this.suppressed(`${event.store}:${event.operation}`);
    if (suppressed === undefined) return;
    const reason = event.error instanceof Error ? event.error.message : String(event.error);
    const who = event.owner ? ` for ${event.owner}` : '';
    this.logger.warn(
      `store '${event.store}' ${event.operation} failed${who} (key ${event.key}): ${reason}${suppressed}`,
    );
  }

  /** Once per id per minute: undefined to stay quiet, else what to add about the quiet ones. */
  private suppressed(id: string): string | undefined {
    const now = Date.now();
    const last = this.lastError.get(id);
    if (last !== undefined && now - last.at < ERROR_LOG_INTERVAL_MS) {
      last.suppressed++;
      return undefined;
    }
    this.lastError.set(id, { at: now, suppressed: 0 });
    return last?.suppressed ? ` (${last.suppressed} similar errors since the last report)` : '';
  }

  /** Once per method and class: the value was returned, but no shared store will ever keep it. */
  private uncacheable(event: Extract<CacheEvent, { type: 'uncacheable' }>): void {
    const what =
      event.error instanceof UncacheableValueError
        ? event.error.className
        : event.error instanceof Error
          ? event.error.message
          : String(event.error);
    const id = `${event.owner ?? event.key}|${what}`;
    if (this.warnedUncacheable.has(id)) return;
    if (this.warnedUncacheable.size < 1_000) this.warnedUncacheable.add(id);
    const reason = event.error instanceof Error ? event.error.message : String(event.error);
    this.logger.warn(`${event.owner ?? event.key}: not stored in store '${event.store}': ${reason}`);
  }
}
