import type { EngineContext } from './context';

/** 'held' by this caller (with its token), 'busy' (someone else has it), or 'none' (store failed: go on unlocked). */
export type LockResult = { state: 'held'; token: Buffer } | { state: 'busy' } | { state: 'none' };

/**
 * dogpile's mutex over the store: `add` of a lock key with a unique token and a ttl; released by
 * compare-and-delete, so a holder whose lock already expired never frees someone else's.
 */
export class DistributedLock {
  constructor(private readonly ctx: EngineContext) {}

  async acquire(lockKey: string, ttlMs: number): Promise<LockResult> {
    const { guard, store } = this.ctx;
    const token = Buffer.from(this.ctx.token(), 'latin1');
    const added = await guard.run('add', lockKey, () => store.add(lockKey, token, ttlMs), undefined);
    if (added === undefined) return { state: 'none' };
    return added ? { state: 'held', token } : { state: 'busy' };
  }

  async release(lockKey: string, token: Buffer): Promise<void> {
    const { guard, store } = this.ctx;
    const cad = store.compareAndDelete?.bind(store);
    if (cad !== undefined) {
      await guard.run('compareAndDelete', lockKey, () => cad(lockKey, token), false);
      return;
    }
    // Without an atomic compare-and-delete: check, then delete (a lock that expired in between
    // may be freed early: at worst one redundant computation, never a wrong value).
    const current = await guard.run('get', lockKey, () => store.get(lockKey), undefined);
    if (current !== undefined && Buffer.compare(Buffer.from(current), token) === 0) {
      await guard.run('delete', lockKey, () => store.delete(lockKey), false);
    }
  }
}
