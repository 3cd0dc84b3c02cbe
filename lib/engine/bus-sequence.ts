/**
 * Every bus message an instance publishes carries the next number of its own sequence; a receiver
 * keeps, per sender, the next number it expects. A number that is skipped is a message that is
 * late (a Redis Cluster forwards each PUBLISH from the node that took it, and a sender's
 * publishes may go through different nodes) or lost (a cluster link dropped with messages in its
 * buffer): the lease cannot tell, since the receiver's own pings still come back. One still
 * missing after `graceMs` is taken as lost, and the receiver drops L1.
 */
interface Sender {
  next: number;
  /** Skipped numbers, with when the skip was noticed. */
  missing: Map<number, number> | undefined;
}

/** A gap wider than this is not waited for number by number: L1 is dropped at once. */
const WIDEST_GAP = 256;
/** Senders remembered (the least recently heard are forgotten): bounds what forged names can cost. */
const MOST_SENDERS = 1024;

export class SenderSequences {
  private readonly senders = new Map<string, Sender>();
  private missing = 0;

  constructor(private readonly graceMs: number) {}

  /** Records message `n` of `from`; true when so many were skipped that L1 must be dropped now. */
  heard(from: string, n: number, now: number): boolean {
    let sender = this.senders.get(from);
    if (sender !== undefined)
      this.senders.delete(from); // re-inserted last: most recently heard
    else if (this.senders.size >= MOST_SENDERS) this.forget(this.senders.keys().next().value as string);
    // The first message heard from a sender sets where its sequence stands.
    sender ??= { next: n, missing: undefined };
    this.senders.set(from, sender);
    if (n === sender.next) {
      sender.next++;
      return false;
    }
    if (n < sender.next) {
      // A late one arriving: no longer missing. (Anything else below `next` is a repeat: nothing to do.)
      if (sender.missing?.delete(n) === true) this.missing--;
      return false;
    }
    const skipped = n - sender.next;
    sender.next = n + 1;
    if (skipped > WIDEST_GAP) return true;
    sender.missing ??= new Map();
    for (let k = n - skipped; k < n; k++) sender.missing.set(k, now);
    this.missing += skipped;
    return false;
  }

  /** Whether a skipped message has now been waited for `graceMs` in vain. */
  overdue(now: number): boolean {
    if (this.missing === 0) return false;
    for (const sender of this.senders.values())
      if (sender.missing !== undefined)
        for (const noticed of sender.missing.values()) if (now - noticed >= this.graceMs) return true;
    return false;
  }

  /** L1 was dropped: nothing missing before now matters any more. */
  settled(): void {
    for (const sender of this.senders.values()) sender.missing = undefined;
    this.missing = 0;
  }

  /** The subscription was lost (and L1 dropped): every sender's sequence is heard afresh. */
  reset(): void {
    this.senders.clear();
    this.missing = 0;
  }

  private forget(from: string): void {
    this.missing -= this.senders.get(from)?.missing?.size ?? 0;
    this.senders.delete(from);
  }
}
