import { withDeadline } from '../util/deadline';
import type { EngineContext } from './context';

/** 'held' by this caller (with its token), 'busy' (someone else has it), or 'none' (store failed: go on unlocked). */
export type LockResult = { state: 'held'; token: Buffer } | { state: 'busy' } | { state: 'none' };

/**
 * dogpile's mutex over the store: `add` of a lock key with a unique token and a ttl; released by
 * compare-and-delete, so a holder whose lock already expired never frees someone else's.
 */
export class DistributedLock {
  constructor(private readonly ctx: EngineContext) {}

  /** Asks for the lock within `budgetMs` of store time; past it, goes on unlocked ('none'). */
  async acquire(lockKey: string, ttlMs: number, budgetMs: number): Promise<LockResult> {
    if (budgetMs <= 0) return { state: 'none' }; // not asked: nobody would release it
    const { guard, store } = this.ctx;
    const token = Buffer.from(this.ctx.token(), 'latin1');
    let adding: Promise<boolean> | undefined;
    const asked = guard.run('add', lockKey, () => (adding = store.add(lockKey, token, ttlMs)), undefined);
    const added = await withDeadline(asked, budgetMs);
    if (added === true) return { state: 'held', token };
    if (added === false) return { state: 'busy' };
    // Given up on (slow store, timed out): the store may still take the add after this call moved
    // on, and other instances would wait `lock.timeout` for a holder computing nothing. Free it
    // once the add settles; by token, so never someone else's lock.
    const release = () => this.release(lockKey, token);
    // Refused: nothing to free. Failed: it may have landed (a timed-out command), so free it.
    if (adding !== undefined)
      void this.ctx.background.track(adding.then((taken) => (taken ? release() : undefined), release));
    return { state: 'none' };
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
