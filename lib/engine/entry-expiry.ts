import type { EntryCodec } from '../codec/entry-codec';
import { sameEntryRetimed } from '../codec/envelope';
import { StoreFailureError } from '../errors';
import type { CachePolicy, CallScope } from '../types/policy';
import type { BatchLookup, Found } from './batch-lookup';
import type { EngineContext } from './context';
import { inspected } from './read-guards';
import type { RemoteObserver } from './remote-observer';
import type { RemoteVersions } from './versions';

/** Other writes (a put, a refresh, a set) that may overtake one expire: past this many it is false. */
const MAX_OVERTAKEN = 3;

/** What one expire's rounds have seen: the bytes its last lost swap read, and writes that overtook it. */
interface Rounds {
  lastRead?: Buffer;
  overtaken: number;
}

/**
 * expireIn on a shared store. Each round rewrites the deadlines of the entry a lookup judged, from
 * the bytes that lookup read (no second read that could find other bytes or skip the check), by
 * compare-and-set when the store has it: a write landing meanwhile is never overwritten by older
 * bytes; the swap fails and the next round judges and retimes the newer entry. A swap lost to a
 * retime of the same entry (another expire, here or on another instance: the bytes are equal but
 * for the deadlines) means both ran at once: this one is taken as ordered just before that one,
 * and is done. So concurrent expires all apply, in two rounds at most, however many instances.
 */
export class EntryExpiry {
  constructor(
    private readonly ctx: EngineContext,
    private readonly codec: EntryCodec,
    private readonly versions: RemoteVersions,
    private readonly lookups: BatchLookup,
    private readonly observer: () => RemoteObserver,
  ) {}

  async expire(key: string, freshForMs: number, policy?: CachePolicy, scope?: CallScope): Promise<boolean> {
    const rounds: Rounds = { overtaken: 0 };
    const retime = (found: Found) => this.retime(key, found, freshForMs, policy, rounds);
    for (;;) {
      const outcome = await this.lookups.lookup(key, scope?.etag, retime, policy?.owner);
      if (outcome !== 'lost') return outcome;
    }
  }

  /** One round: true, false (none, invalidated, refused, overtaken too often), or 'lost' (other bytes). */
  private async retime(
    key: string,
    found: Found,
    freshForMs: number,
    policy: CachePolicy | undefined,
    rounds: Rounds,
  ): Promise<boolean | 'lost'> {
    const { ctx } = this;
    if (found.state === 'miss') {
      if (found.reachable) return false;
      const who = policy?.owner ? ` for ${policy.owner}` : '';
      throw new StoreFailureError(
        `store '${ctx.name}' could not judge ${key}${who} within the operation timeout (down, failing or circuit open): expire was not applied.`,
        undefined,
        { store: ctx.name, operation: 'expire' },
      );
    }
    // An entry a call would refuse (validate) is none here too.
    if ((await inspected(ctx, key, found, policy)).state === 'miss') return false;
    const { view } = found;
    const read = view.whole();
    if (rounds.lastRead !== undefined) {
      // Unchanged bytes are no other expire's: the swap was refused with nothing written (memcached -C refuses all).
      if (!rounds.lastRead.equals(read) && sameEntryRetimed(rounds.lastRead, read)) {
        // Lost to another expire of this entry, during this call: ordered just before it, done.
        await this.observer().expired?.(key);
        return true;
      }
      if (++rounds.overtaken >= MAX_OVERTAKEN) return false; // newer writes kept landing
    }
    const now = ctx.now();
    if (view.staleUntil <= now) return false;
    const grace = view.staleUntil - view.freshUntil;
    const out = this.codec.retime(key, read, now + freshForMs, now + freshForMs + grace);
    const keepMs = freshForMs + Math.max(grace, policy?.staleIfErrorMs ?? 0);
    this.versions.registerLifetime(keepMs); // its version records must outlive it
    const { guard, store } = ctx;
    const cas = store.compareAndSet;
    if (cas === undefined) {
      // A store without compare-and-set: a write landing since the read is overwritten (README).
      await guard.run('set', key, () => store.set(key, out, keepMs), undefined, true, policy?.owner);
    } else {
      const swap = () => cas.call(store, key, read, out, keepMs);
      let swapped: boolean;
      try {
        swapped = await guard.run('compareAndSet', key, swap, false, true, policy?.owner);
      } catch (error) {
        // It may have been applied (an answer lost to the timeout): in-process copies go either way.
        await this.observer()
          .expired?.(key)
          .catch(() => undefined);
        throw error;
      }
      if (!swapped) {
        rounds.lastRead = read; // the next round's read tells what replaced it
        return 'lost';
      }
    }
    await this.observer().expired?.(key);
    return true;
  }
}
