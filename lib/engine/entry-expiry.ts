import type { EntryCodec } from '../codec/entry-codec';
import { sameEntryRetimed } from '../codec/envelope';
import { StoreFailureError } from '../errors';
import type { CachePolicy, CallScope } from '../types/policy';
import type { BatchLookup, Found } from './batch-lookup';
import type { EngineContext } from './context';
import { inspected } from './read-guards';
import type { RemoteObserver } from './remote-observer';
import type { RemoteVersions } from './versions';

/** Other writes (a put, a refresh, a set) that may overtake one expire in a row: then it is false. */
const MAX_OVERTAKEN = 3;
/** Rounds in all, swaps lost to other instances' expires of the same entry included. */
const MAX_ROUNDS = 10;

/** What one expire's rounds have seen: the bytes its last lost swap read, and writes that overtook it. */
interface Rounds {
  lastRead?: Buffer;
  overtaken: number;
}

/**
 * expireIn on a shared store. Each round rewrites the deadlines of the entry a lookup judged, from
 * the bytes that lookup read (no second read that could find other bytes or skip the check), by
 * compare-and-set when the store has it: a write landing meanwhile is never overwritten by older
 * bytes; the swap fails and the next round judges and retimes the newer entry. A swap lost to
 * another instance's expire of the same entry (same bytes but the deadlines) is not counted as
 * overtaken; expires of one key in this process run one after another, so they never race.
 */
export class EntryExpiry {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly codec: EntryCodec,
    private readonly versions: RemoteVersions,
    private readonly lookups: BatchLookup,
    private readonly observer: () => RemoteObserver,
  ) {}

  expire(key: string, freshForMs: number, policy?: CachePolicy, scope?: CallScope): Promise<boolean> {
    const run = () => this.rounds(key, freshForMs, policy, scope);
    const mine = (this.queues.get(key) ?? Promise.resolve()).then(run, run);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, tail);
    void tail.then(() => this.queues.get(key) === tail && this.queues.delete(key));
    return mine;
  }

  private async rounds(key: string, freshForMs: number, policy?: CachePolicy, scope?: CallScope): Promise<boolean> {
    const rounds: Rounds = { overtaken: 0 };
    const retime = (found: Found) => this.retime(key, found, freshForMs, policy, rounds);
    for (let round = 1; ; round++) {
      const outcome = await this.lookups.lookup(key, scope?.etag, retime, policy?.owner);
      if (outcome !== 'lost') return outcome;
      if (rounds.overtaken >= MAX_OVERTAKEN || round >= MAX_ROUNDS) return false;
    }
  }

  /** One round: true, false (none, invalidated, refused), or 'lost' (the swap found other bytes). */
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
    const now = ctx.now();
    if (view.staleUntil <= now) return false;
    const read = view.whole();
    // The last swap was lost to a retime of the same entry (another instance's expire): not a newer write.
    if (rounds.lastRead !== undefined && sameEntryRetimed(rounds.lastRead, read)) rounds.overtaken--;
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
        rounds.lastRead = read;
        rounds.overtaken++;
        return 'lost';
      }
    }
    await this.observer().expired?.(key);
    return true;
  }
}
