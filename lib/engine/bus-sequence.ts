/**
 * Every invalidation and drop an instance publishes takes the next number of its own sequence, and
 * its pings carry the count so far (a ping takes none: a ping that fails leaves no gap). A
 * receiver keeps, per sender, the next number it expects. A skipped number is a message that is
 * late (a Redis Cluster forwards each PUBLISH from the node that took it, and one sender's
 * publishes may go through different nodes, or wait on a stalled one) or lost (a cluster link
 * dropped with messages in its buffer): the lease cannot tell, since the receiver's own pings
 * still come back. Missing for `lateMs`, it suspends the receiver's lease (L1 hits are confirmed
 * against L2); missing for `lostMs`, it is lost: L1 is dropped.
 */
interface Gap {
  /** Numbers `from` to `to` (excluded) are missing since `at`. */
  from: number;
  to: number;
  readonly at: number;
}

interface Sender {
  next: number;
  /** When a message of it last arrived (a field write per message: no reordering of the map). */
  heard: number;
  /** In order of `from`, and so of `at`. */
  gaps: Gap[];
}

export type SequenceState = 'complete' | 'late' | 'lost';

/** A jump wider than this is not waited for: L1 is dropped at once (a forged number costs no more). */
const WIDEST_GAP = 4096;
/**
 * Gaps pending across senders before L1 is dropped at once: bounds what forged messages can hold.
 * (Each message held on a stalled node is a gap of its own: a write-heavy fleet makes thousands.)
 */
const MOST_GAPS = 16_384;
/**
 * Senders remembered. Past this, those silent for a lease are forgotten (instances that ended); if
 * none is (forged names), all are, and heard afresh at a cost of L1.
 */
const MOST_SENDERS = 16_384;

export class SenderSequences {
  private readonly senders = new Map<string, Sender>();
  private readonly gapped = new Set<Sender>();
  private gaps = 0;
  /** When the oldest pending gap was noticed (Infinity: none). */
  private oldest = Infinity;

  constructor(
    private readonly lateMs: number,
    private readonly lostMs: number,
  ) {}

  /**
   * Records message `n` of `from`: a number it took (`counted`: an invalidation or a drop), or its
   * count so far (a ping). True when L1 must be dropped now.
   */
  heard(from: string, n: number, counted: boolean, now: number): boolean {
    const sender = this.senders.get(from);
    if (sender === undefined) {
      const full = this.senders.size >= MOST_SENDERS && !this.forgetSilent(now);
      if (full) this.reset();
      this.senders.set(from, { next: counted ? n + 1 : n, heard: now, gaps: [] });
      // Heard for the first time (this instance is new, or subscribed again, or had forgotten the
      // sender): what it sent before may have been lost since this instance subscribed.
      return n > 0 || full;
    }
    sender.heard = now;
    if (n < sender.next) {
      if (counted) this.fill(sender, n);
      return this.gaps > MOST_GAPS;
    }
    if (n - sender.next > WIDEST_GAP) {
      this.forget(from); // heard afresh from its next message (a forged number must not move it)
      return true;
    }
    const skipped = n > sender.next;
    if (skipped) {
      sender.gaps.push({ from: sender.next, to: n, at: now });
      this.gapped.add(sender);
      this.oldest = Math.min(this.oldest, now);
      this.gaps++;
    }
    sender.next = counted ? n + 1 : n;
    return skipped && this.gaps > MOST_GAPS;
  }

  /** Ranges of missing numbers pending, across senders. */
  get pending(): number {
    return this.gaps;
  }

  /** Whether a skipped number has been missing for `lateMs` ('late') or `lostMs` ('lost'). O(1): asked on every L1 hit. */
  state(now: number): SequenceState {
    const waited = now - this.oldest;
    return waited >= this.lostMs ? 'lost' : waited >= this.lateMs ? 'late' : 'complete';
  }

  /** L1 was dropped: nothing missing before now matters any more. */
  settled(): void {
    for (const sender of this.gapped) sender.gaps = [];
    this.gapped.clear();
    this.gaps = 0;
    this.oldest = Infinity;
  }

  /** The subscription was lost (and L1 dropped): every sender is heard afresh. */
  reset(): void {
    this.senders.clear();
    this.gapped.clear();
    this.gaps = 0;
    this.oldest = Infinity;
  }

  /** A late message: no longer missing. (A number in no gap is a repeat: nothing to do.) */
  private fill(sender: Sender, n: number): void {
    const at = gapHolding(sender.gaps, n);
    if (at < 0) return;
    const gap = sender.gaps[at];
    if (n === gap.from) gap.from++;
    else if (n === gap.to - 1) gap.to--;
    else {
      sender.gaps.splice(at + 1, 0, { from: n + 1, to: gap.to, at: gap.at });
      gap.to = n;
      this.gaps++;
    }
    if (gap.from < gap.to) return;
    sender.gaps.splice(at, 1);
    this.gaps--;
    if (sender.gaps.length === 0) this.gapped.delete(sender);
    if (gap.at === this.oldest) this.findOldest();
  }

  /** Each sender's first gap is its oldest: a scan over the senders with gaps, when one closes. */
  private findOldest(): void {
    this.oldest = Infinity;
    for (const sender of this.gapped) this.oldest = Math.min(this.oldest, sender.gaps[0].at);
  }

  /** Forgets senders without gaps silent for a lease (a live one pings every quarter lease); whether any was. */
  private forgetSilent(now: number): boolean {
    const before = this.senders.size;
    for (const [from, sender] of this.senders)
      if (sender.gaps.length === 0 && now - sender.heard > this.lostMs) this.senders.delete(from);
    return this.senders.size < before;
  }

  private forget(from: string): void {
    const sender = this.senders.get(from);
    if (sender === undefined) return;
    this.gaps -= sender.gaps.length;
    this.gapped.delete(sender);
    this.senders.delete(from);
    this.findOldest();
  }
}

/** The index of the gap holding `n` (gaps are in order and apart), or -1. */
function gapHolding(gaps: readonly Gap[], n: number): number {
  let low = 0;
  let high = gaps.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (n < gaps[mid].from) high = mid - 1;
    else if (n >= gaps[mid].to) low = mid + 1;
    else return mid;
  }
  return -1;
}
