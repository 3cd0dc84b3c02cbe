import type { BusTransport } from '../../types/bus';
import type { RedisClientLike } from './redis.types';

interface Subscriber extends RedisClientLike {
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe?(...channels: string[]): Promise<unknown>;
}

/**
 * Redis pub/sub on a duplicate of the store's connection (a subscribed connection cannot run
 * other commands). Reports when the subscription is up or lost, so the engine knows when it may
 * have missed messages.
 */
export class RedisBus implements BusTransport {
  private subscriber: Subscriber | undefined;
  private readonly listeners: Array<{
    channels: ReadonlySet<string>;
    onMessage: (channel: string, text: string) => void;
    onState: (up: boolean) => void;
  }> = [];

  private up = false;
  private readonly waitingUp = new Set<() => void>();

  constructor(
    private readonly publisher: RedisClientLike,
    private readonly duplicate: () => RedisClientLike,
  ) {}

  /** Whether the subscription is up, waiting for it at most `timeoutMs` (none started: false at once). */
  whenUp(timeoutMs: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    if (this.subscriber === undefined) return Promise.resolve(false); // nothing subscribed yet: nothing to wait for
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waitingUp.delete(done);
        resolve(this.up);
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref?.();
      this.waitingUp.add(done);
    });
  }

  /** Each call adds its channels to the one subscriber connection; the function returned removes them. */
  subscribe(
    channels: readonly string[],
    onMessage: (channel: string, text: string) => void,
    onState: (up: boolean) => void,
  ): () => void {
    const listener = { channels: new Set(channels), onMessage, onState };
    this.listeners.push(listener);
    const unsubscribe = () => this.unsubscribe(listener);
    if (this.subscriber !== undefined) {
      if (this.subscriber.status === 'ready') void this.resubscribe();
      return unsubscribe;
    }
    const sub = this.duplicate() as Subscriber;
    this.subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', (...args: unknown[]) => {
      const channel = String(args[0]);
      for (const l of this.listeners) if (l.channels.has(channel)) l.onMessage(channel, String(args[1]));
    });
    sub.on('ready', () => void this.resubscribe());
    for (const event of ['close', 'end', 'reconnecting']) sub.on(event, () => this.state(false));
    this.watchClusterSubscriber(sub);
    if (sub.status === 'ready') void this.resubscribe();
    return unsubscribe;
  }

  private unsubscribe(listener: (typeof this.listeners)[number]): void {
    const at = this.listeners.indexOf(listener);
    if (at < 0) return;
    this.listeners.splice(at, 1);
    const kept = new Set(this.listeners.flatMap((l) => [...l.channels]));
    const gone = [...listener.channels].filter((c) => !kept.has(c));
    if (gone.length > 0 && this.subscriber?.status === 'ready')
      this.subscriber.unsubscribe?.(...gone).catch(() => undefined);
  }

  async publish(channel: string, text: string): Promise<number> {
    return this.publisher.publish(channel, text);
  }

  /**
   * PUBLISH's count, except on a cluster: there it counts only the subscribers of the node that
   * took the message, though every node's subscribers receive it. There the subscribers are
   * counted on every node (masters and replicas: a cluster's pub/sub connection may pick any),
   * before and after publishing, and the larger count is kept. Each receiver acknowledges once, so
   * the count must be at least the number of receivers: one that subscribed before the message
   * reached it is in the second count, one that left after receiving it in the first; only a
   * subscriber joining and another leaving within the same few round trips could make it short.
   * Too high only makes the engine wait for the lease, as it does when a node does not answer
   * (the count is unknown then).
   */
  async publishCounted(channel: string, text: string | (() => string)): Promise<number | undefined> {
    const body = () => (typeof text === 'function' ? text() : text);
    if (this.publisher.isCluster !== true) return this.publisher.publish(channel, body());
    const before = await this.subscribers(channel);
    await this.publisher.publish(channel, body());
    const after = await this.subscribers(channel);
    return before === undefined || after === undefined ? undefined : Math.max(before, after);
  }

  async close(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = undefined;
    this.listeners.length = 0;
    // At once, not QUIT: a subscriber has nothing to flush, and node-redis' close() waits for
    // replies a frozen server never sends, after which its socket could no longer be destroyed.
    sub?.disconnect();
  }

  private state(up: boolean): void {
    this.up = up;
    for (const l of this.listeners) l.onState(up);
    if (up) for (const done of [...this.waitingUp]) done();
  }

  /**
   * An ioredis (or iovalkey) Cluster subscribes on a connection of its own to one node, and when that
   * connection ends it picks another node and subscribes again without a word on the Cluster object:
   * messages published in between were lost, and the next ping would renew the lease over them. Its
   * ClusterSubscriber assigns each new connection to `subscriber`; a setter there reports the gap at
   * once, and the bus comes up again (dropping L1) when the new connection has subscribed.
   */
  private watchClusterSubscriber(sub: Subscriber): void {
    const holder = (sub as { subscriber?: unknown }).subscriber as { subscriber?: unknown; getInstance?: unknown };
    if (typeof holder !== 'object' || holder === null || typeof holder.getInstance !== 'function') return;
    if (!Object.getOwnPropertyDescriptor(holder, 'subscriber')?.writable) return; // not the shape we know
    let current = holder.subscriber;
    Object.defineProperty(holder, 'subscriber', {
      configurable: true,
      enumerable: true,
      get: () => current,
      set: (next: unknown) => {
        if (next === current) return;
        current = next;
        if (this.subscriber !== sub) return; // closed
        this.state(false);
        // After ClusterSubscriber has wired the new connection (synchronously, after this assignment).
        if (next !== null && next !== undefined) setImmediate(() => void this.resubscribe());
      },
    });
  }

  /** Subscribers of `channel` on every node of the cluster; undefined unless every node answers. */
  private async subscribers(channel: string): Promise<number | undefined> {
    const nodes = this.publisher.nodes?.('all') ?? [];
    if (nodes.length === 0) return undefined;
    const counts = await Promise.all(
      nodes.map(async (node) => {
        if (node.pubsub === undefined) return undefined;
        try {
          return numsub(await node.pubsub('NUMSUB', channel), channel);
        } catch {
          return undefined; // this node's subscribers are unknown
        }
      }),
    );
    let total = 0;
    for (const count of counts) {
      if (count === undefined) return undefined;
      total += count;
    }
    return total;
  }

  /**
   * Subscribes the connection to every listener's channels. A SUBSCRIBE that fails on a connection
   * still up (timed out: the loop was blocked, or the server frozen, just then) is tried again
   * until it lands: nothing else would bring the bus up before the next reconnection, and without
   * it every L1 hit is confirmed against L2.
   */
  private async resubscribe(retryMs = 50): Promise<void> {
    const sub = this.subscriber;
    try {
      const channels = new Set(this.listeners.flatMap((l) => [...l.channels]));
      await sub?.subscribe(...channels);
      if (this.subscriber === sub) this.state(true);
    } catch {
      if (this.subscriber !== sub) return; // closed meanwhile
      this.state(false);
      const again = () => this.subscriber === sub && sub?.status === 'ready' && void this.resubscribe(retryMs * 2);
      setTimeout(again, Math.min(retryMs, 1_000)).unref?.();
    }
  }
}

/** The count in PUBSUB NUMSUB's reply: [channel, count] (RESP2), or a map (RESP3). */
function numsub(reply: unknown, channel: string): number | undefined {
  let count: unknown;
  if (Array.isArray(reply)) count = reply[1];
  else if (reply instanceof Map) count = reply.get(channel);
  else if (typeof reply === 'object' && reply !== null) count = (reply as Record<string, unknown>)[channel];
  const n = typeof count === 'number' || typeof count === 'string' ? Number(count) : NaN;
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}
