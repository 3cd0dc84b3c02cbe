import { randomInt } from 'node:crypto';
import type { CacheStore } from '../stores/cache-store.interface';
import type { StoreGuard } from './store-guard';
import { asBuffer } from '../serialization/bytes';

export const encodeAscii = (text: string): Uint8Array => Buffer.from(text, 'latin1');
export const decodeAscii = (bytes: Uint8Array): string => asBuffer(bytes).toString('latin1');

export function newToken(): string {
  return `${Date.now().toString(36)}.${randomInt(2 ** 47).toString(36)}`;
}

/**
 * What app instances sharing a store agree on: the invalidation epoch (a random token replaced
 * by every invalidation) and the clock (the store's, where it has one).
 */
export class SharedState {
  /** Store clock minus local clock, ms (0 until measured, or for stores without a clock). */
  private clockOffset = 0;
  private clockSyncedAt = Number.NEGATIVE_INFINITY;
  private epochSeeded = false;

  constructor(
    private readonly store: CacheStore,
    private readonly guard: StoreGuard,
    /** Where the epoch lives; lookups read it together with their entries. */
    readonly epochKey: string,
    private readonly now: () => number,
    private readonly syncClock: boolean,
    private readonly epochTtlMs: () => number,
  ) {}

  /** Local time corrected to the shared store's clock. */
  clock(): number {
    return this.now() + this.clockOffset;
  }

  /**
   * Call before reading: seeds the epoch once and keeps the clock offset fresh. Returns a promise
   * only when there is something to wait for, so the hot path does not pay for an await.
   */
  prepare(): Promise<void> | undefined {
    if (!this.epochSeeded) return this.seed();
    if (this.now() - this.clockSyncedAt >= 60_000) void this.syncClockNow();
    return undefined;
  }

  private async seed(): Promise<void> {
    await this.syncClockNow();
    const token = encodeAscii(newToken());
    this.epochSeeded = await this.guard.run('add', this.epochKey, () => this.store.add(this.epochKey, token, this.epochTtlMs()).then(() => true), false);
  }

  async readEpoch(): Promise<string | undefined> {
    const raw = await this.guard.run('get', this.epochKey, () => this.store.get(this.epochKey), undefined);
    return raw === undefined ? undefined : decodeAscii(raw);
  }

  /** After tag timestamps are written: a reader that sees the new epoch finds them. */
  async bumpEpoch(): Promise<void> {
    const token = encodeAscii(newToken());
    await this.guard.run('set', this.epochKey, () => this.store.set(this.epochKey, token, this.epochTtlMs()), undefined, true);
  }

  /** Measures the store's clock against ours (NTP-style midpoint), at most once a minute. */
  async syncClockNow(): Promise<void> {
    const time = this.store.time?.bind(this.store);
    if (!this.syncClock || time === undefined || this.now() - this.clockSyncedAt < 60_000) return;
    this.clockSyncedAt = this.now();
    const before = this.now();
    const storeTime = await this.guard.run('time', '', () => time(), undefined);
    const after = this.now();
    if (storeTime !== undefined) this.clockOffset = storeTime - (before + after) / 2;
  }
}
