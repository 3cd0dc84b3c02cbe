/** One move of a key bucket's token by a refresh, set or put of this process. */
export interface Move {
  readonly from: string;
  readonly to: string;
  readonly key: string;
  /** When the replacement started (Flight.startedAt): which of two replacements of one key is newer. */
  readonly startedAt: number;
  /** Its compare-and-set succeeded; until then, `settled` is pending. */
  confirmed: boolean;
  settled: Promise<void>;
  settle: () => void;
}

/** What this process's own confirmed moves of a bucket, followed from a token, say (see follow). */
export type Followed = 'newer' | { readonly to: string; readonly olderSameKey: boolean };

/**
 * The key-bucket moves this process's refreshes, sets and puts made (`replaceEntry`, `writeThrough`). A replacement whose
 * compare-and-set finds its bucket moved follows them from the token it read: moved by a newer
 * replacement of its key, it leaves the entry to that one; by other keys of the bucket only, their
 * move stands for its own (both entries are stored under the token); by an older replacement of
 * its key, it moves the bucket past that one. Moved by anything else (another instance, an
 * invalidation), nothing is known, and the key is invalidated.
 */
export class BucketMoves {
  private readonly byBucket = new Map<string, Move[]>();

  /**
   * Recorded before its compare-and-set is sent (a conflicting one may be answered first), then
   * confirmed, or forgotten if it fails.
   */
  start(bucket: string, from: string, to: string, key: string, startedAt: number): Move {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const move: Move = { from, to, key, startedAt, confirmed: false, settled, settle };
    this.record(bucket, move);
    return move;
  }

  confirm(move: Move): void {
    move.confirmed = true;
    move.settle();
  }

  /** The moves from `token` whose compare-and-set has not answered yet. */
  pending(bucket: string, token: string): Promise<void>[] {
    return (this.byBucket.get(bucket) ?? []).filter((m) => m.from === token && !m.confirmed).map((m) => m.settled);
  }

  private record(bucket: string, move: Move): void {
    let moves = this.byBucket.get(bucket);
    if (moves === undefined) {
      if (this.byBucket.size >= 10_000) this.byBucket.clear(); // bounded: forgetting costs a miss, never a value
      this.byBucket.set(bucket, (moves = []));
    }
    moves.push(move);
    if (moves.length > 16) moves.shift();
  }

  forget(bucket: string, move: Move): void {
    const moves = this.byBucket.get(bucket);
    const at = moves?.indexOf(move) ?? -1;
    if (at >= 0) moves!.splice(at, 1);
    move.settle();
  }

  /** From `token`, the confirmed moves (the caller's own failed one is forgotten already). */
  follow(bucket: string, token: string, key: string, startedAt: number): Followed | undefined {
    const moves = this.byBucket.get(bucket)?.filter((m) => m.confirmed);
    let to: string | undefined;
    let olderSameKey = false;
    for (let at = token, next = moves?.find((m) => m.from === at); next !== undefined;) {
      if (next.key === key && next.startedAt > startedAt) return 'newer';
      if (next.key === key) olderSameKey = true;
      to = at = next.to;
      next = moves?.find((m) => m.from === at);
    }
    return to === undefined ? undefined : { to, olderSameKey };
  }
}
