import type { CacheStore } from '../stores/cache-store.interface';
import { encodeAscii, newToken } from './shared-state';
import type { StoreGuard } from './store-guard';

export interface LockPolicy {
  /** How long callers wait for the holder's value before computing themselves. */
  waitMs: number;
  /** Lock lifetime: if the holder dies, another caller gets the lock after this. */
  ttlMs: number;
}

/** 'held' by this caller (with its token), 'busy' (someone else has it), or 'none' (store failed: go on unlocked). */
export type LockResult = { state: 'held'; token: Uint8Array } | { state: 'busy' } | { state: 'none' };

/**
 * dogpile's mutex over the store: `add` of a lock key with a unique token and a ttl; released by
 * compare-and-delete, so a holder whose lock already expired never frees someone else's.
 */
export class DistributedLock {
  constructor(
    private readonly store: CacheStore,
    private readonly guard: StoreGuard,
  ) {}

  async acquire(lockKey: string, ttlMs: number): Promise<LockResult> {
    const token = encodeAscii(newToken());
    const added = await this.guard.run('add', lockKey, () => this.store.add(lockKey, token, ttlMs), undefined);
    if (added === undefined) return { state: 'none' };
    return added ? { state: 'held', token } : { state: 'busy' };
  }

  async release(lockKey: string, token: Uint8Array): Promise<void> {
    const cad = this.store.compareAndDelete?.bind(this.store);
    if (cad !== undefined) {
      await this.guard.run('compareAndDelete', lockKey, () => cad(lockKey, token), false);
      return;
    }
    // Without an atomic compare-and-delete: check, then delete (a lock that expired in between
    // may be freed early: at worst one redundant computation, never a wrong value).
    const current = await this.guard.run('get', lockKey, () => this.store.get(lockKey), undefined);
    if (current !== undefined && Buffer.compare(Buffer.from(current), Buffer.from(token)) === 0) {
      await this.guard.run('delete', lockKey, () => this.store.delete(lockKey), false);
    }
  }
}
