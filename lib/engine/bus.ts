import { randomBytes } from 'node:crypto';
import { StoreFailureError } from '../errors';
import type { BusTransport } from '../types/bus';
import { withDeadline } from '../util/deadline';
import { wellFormed, type Message } from './bus-message';
import { SenderSequences } from './bus-sequence';

/** An invalidation announced to other instances (dependency keys, entry keys, a cleared prefix). */
export interface BusChange {
  deps: readonly string[];
  keys: readonly string[];
  prefix?: string;
}

export interface BusHandlers {
  /** Another instance invalidated: drop what this one holds of it (before acknowledging). */
  invalidate(change: BusChange): void;
  /** Another instance stored newer values for these keys. */
  drop(keys: readonly string[]): void;
  /** Messages may have been missed (the subscription was lost): drop everything. */
  resync(): void;
}

/**
 * Keeps in-process copies (L1) coherent across instances without trusting any clock:
 *
 * - an invalidation is published and waits for every subscriber's acknowledgement, sent once it
 *   has applied it (the transport tells how many received it: on a Redis Cluster, counted on
 *   every node, since PUBLISH's own count covers only the node that took it);
 * - an instance serves L1 hits only under a lease: it pings itself through the bus, and for
 *   `leaseMs` after a ping it sent came back it knows it has applied every message published
 *   before that ping (one connection delivers them in order).
 *
 * An invalidation whose acknowledgements do not all arrive (an instance frozen or cut off), or whose
 * number of receivers the transport could not tell (a cluster node down), resolves after `leaseMs`
 * plus a margin: by then a silent instance's lease has run out, and it confirms L1 hits against L2
 * until it hears its own ping again, and drops L1 then: a lapsed lease means pings went unheard, so
 * messages may have been too (on a cluster, the subscription may have moved to another node). A
 * message lost while pings still arrive (a cluster node's link to another dropping its buffer) is
 * caught by sequence numbers (bus-sequence.ts): once a later message of the sender shows the gap,
 * a number still missing a quarter lease later suspends the lease, and one missing a whole lease
 * later drops L1.
 */
export class BusProtocol {
  readonly instanceId = randomBytes(8).toString('base64url');
  private readonly ackChannel: string;
  private leaseUntil = 0;
  private up = false;
  /** True at first: copies made before the bus was ever up missed every message published until then. */
  private wasDown = true;
  private pings = new Map<string, number>();
  private seq = 0;
  /** Next number of this instance's own sequence of invalidations and drops. */
  private sent = 0;
  private readonly sequences: SenderSequences;
  private readonly waiting = new Map<
    string,
    { acks: number; expected: number | undefined; done: () => void; closed?: boolean }
  >();
  private timer: NodeJS.Timeout | undefined;
  private readonly handlers = new Set<BusHandlers>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly transport: BusTransport,
    private readonly channel: string,
    private readonly leaseMs: number,
  ) {
    this.ackChannel = `${channel}:${this.instanceId}`;
    this.sequences = new SenderSequences(leaseMs / 4, leaseMs);
    this.start();
  }

  /** Several engines on one tiered store share its bus; each attaches what it holds. Returns detach. */
  attach(handlers: BusHandlers): () => void {
    this.handlers.add(handlers);
    return () => {
      this.handlers.delete(handlers);
      if (this.handlers.size === 0) void this.close();
    };
  }

  get closed(): boolean {
    return this.timer === undefined;
  }

  private start(): void {
    const off = this.transport.subscribe(
      [this.channel, this.ackChannel],
      (channel, text) => this.receive(channel, text),
      (up) => this.state(up),
    );
    this.unsubscribe = typeof off === 'function' ? off : undefined;
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(this.leaseMs / 4)));
    this.timer.unref?.();
  }

  /** May L1 be served without asking L2? `at`: a performance.now() reading taken just before. */
  leased(at: number = performance.now()): boolean {
    // Another instance's message late a quarter lease: hits are confirmed against L2 until it arrives.
    return this.up && at < this.leaseUntil && this.sequences.state(at) === 'complete';
  }

  /** Publishes an invalidation and waits (bounded) until every instance has applied it. */
  async announce(change: BusChange): Promise<void> {
    if (this.closed) throw closedWhileWaiting(); // nothing would acknowledge it: no message is received any more
    const id = `${this.instanceId}.${this.seq++}`;
    const message: Message = {
      t: 'inv',
      from: this.instanceId,
      id,
      deps: change.deps,
      keys: change.keys,
      prefix: change.prefix,
    };
    let done!: () => void;
    const acked = new Promise<void>((resolve) => (done = resolve));
    this.waiting.set(id, { acks: 0, expected: undefined, done });
    let receivers: number | undefined;
    try {
      // Bounded: a publish without reply (a frozen server, a client without a command timeout) fails the invalidation.
      const ms = this.leaseMs + 250;
      const sent = await withDeadline(
        // Numbered as it is sent (on a cluster, after counting the receivers on every node): a ping
        // sent meanwhile must not overtake it.
        this.transport
          .publishCounted(this.channel, () => JSON.stringify({ ...message, n: this.sent++ }))
          .then((count) => ({ count })),
        ms,
      );
      if (sent === undefined) throw new Error(`no reply within ${ms} ms`);
      receivers = sent.count;
    } catch (error) {
      this.waiting.delete(id);
      throw new StoreFailureError(
        `the invalidation bus could not publish: ${error instanceof Error ? error.message : String(error)}`,
        error,
        { operation: 'publish' },
      );
    }
    const wait = this.waiting.get(id);
    if (wait === undefined) throw closedWhileWaiting(); // only close() removes it before PUBLISH's reply
    // Unknown: no number of acknowledgements is enough, wait until silent instances' leases ran out.
    wait.expected = receivers ?? Infinity;
    if (wait.acks >= wait.expected) return this.finish(id); // acknowledgements can arrive before PUBLISH's reply
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      acked,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.leaseMs + 250);
        timer.unref?.();
      }),
    ]);
    clearTimeout(timer);
    this.waiting.delete(id);
    if (wait.closed === true) throw closedWhileWaiting();
  }

  /** Tells other instances to drop their copies of keys this one just rewrote (best effort). */
  async dropped(keys: readonly string[]): Promise<void> {
    if (this.closed) return;
    await this.transport.publish(
      this.channel,
      JSON.stringify({ t: 'drop', from: this.instanceId, n: this.sent++, keys } satisfies Message),
    );
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.up = false;
    // Pending invalidations fail: without this instance's pings, nothing would show a receiver that lost one.
    for (const [, w] of this.waiting) {
      w.closed = true;
      w.done();
    }
    this.waiting.clear();
  }

  private tick(): void {
    const state = this.sequences.state(performance.now());
    // Once more after this turn's I/O: a late message may be waiting in the socket (timers run first).
    if (state === 'lost')
      setImmediate(() => !this.closed && this.sequences.state(performance.now()) === 'lost' && this.resyncAll());
    this.ping();
  }

  /** Drops L1 (every engine attached): messages may have been missed. */
  private resyncAll(): void {
    this.sequences.settled();
    for (const h of this.handlers) h.resync();
  }

  private ping(): void {
    // Not subscribed, it still publishes (invalidations, drops), so its count must still reach the
    // others; only a ping it can hear back (an id) renews its lease.
    let id: string | undefined;
    if (this.up) {
      id = String(this.seq++);
      this.pings.set(id, performance.now());
      if (this.pings.size > 64) this.pings = new Map([...this.pings].slice(-8)); // lost pings
    }
    this.transport
      .publish(this.channel, JSON.stringify({ t: 'ping', from: this.instanceId, n: this.sent, id } satisfies Message))
      .catch(() => undefined);
  }

  private state(up: boolean): void {
    if (!up) {
      if (this.up) this.wasDown = true;
      this.up = false;
      this.leaseUntil = 0;
      return;
    }
    // Messages published while the subscription was lost never arrive: forget everything first,
    // and every sender's sequence (each is heard afresh: its first message drops L1 once more
    // unless it is the sender's very first, since one lost after this point would not show).
    if (this.wasDown) {
      this.sequences.reset();
      this.resyncAll();
    }
    this.wasDown = false;
    this.up = true;
    this.ping();
  }

  private receive(channel: string, text: string): void {
    // Closed (its app closed, the store lives on): it must not acknowledge for an instance that
    // holds nothing — one connection's subscribers count once, and its ack would stand in for a
    // silent instance's.
    if (this.closed) return;
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return; // not ours
    }
    // Anyone who can PUBLISH on the store can send anything: what is not a well-formed message is ignored.
    if (!wellFormed(message)) return;
    if (channel === this.ackChannel) {
      if (message.t === 'ack' && message.id !== undefined) this.countAck(message.id);
      return;
    }
    if (message.from !== this.instanceId && message.n !== undefined) {
      const now = performance.now();
      if (this.sequences.heard(message.from, message.n, message.t !== 'ping', now)) this.resyncAll();
    }
    if (message.t === 'ping') {
      if (message.from !== this.instanceId || message.id === undefined) return;
      const sentAt = this.pings.get(message.id);
      if (sentAt === undefined) return;
      this.pings.delete(message.id);
      // A lease that ran out means pings went unheard: messages may have been lost with them (a
      // subscription that moved without a word, a node that was frozen), and an invalidation that
      // timed out waiting for this instance resolved counting on that lapse. Forget L1 first.
      // (0: the bus has just come up, and state(true) has resynced already.)
      if (this.leaseUntil !== 0 && performance.now() >= this.leaseUntil) this.resyncAll();
      this.leaseUntil = Math.max(this.leaseUntil, sentAt + this.leaseMs);
    } else if (message.t === 'inv') {
      if (message.from !== this.instanceId)
        for (const h of this.handlers)
          h.invalidate({ deps: message.deps ?? [], keys: message.keys ?? [], prefix: message.prefix });
      // Everyone acknowledges, the sender included: the count covers every subscriber.
      const ack: Message = { t: 'ack', from: this.instanceId, id: message.id };
      this.transport.publish(`${this.channel}:${message.from}`, JSON.stringify(ack)).catch(() => undefined);
    } else if (message.t === 'drop' && message.from !== this.instanceId) {
      for (const h of this.handlers) h.drop(message.keys ?? []);
    }
  }

  private countAck(id: string): void {
    const wait = this.waiting.get(id);
    if (wait === undefined) return;
    wait.acks++;
    if (wait.expected !== undefined && wait.acks >= wait.expected) this.finish(id);
  }

  private finish(id: string): void {
    const wait = this.waiting.get(id);
    this.waiting.delete(id);
    wait?.done();
  }
}

const closedWhileWaiting = () =>
  new StoreFailureError('the invalidation bus closed before every instance acknowledged the invalidation', undefined, {
    operation: 'publish',
  });
