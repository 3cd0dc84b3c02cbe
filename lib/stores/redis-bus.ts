import type { RedisClientLike } from './redis.types';

export interface BusMessage {
  /** Sender instance id: an instance ignores its own messages. */
  from: string;
  keys?: readonly string[];
  tags?: readonly string[];
  clear?: string;
}

interface Subscriber extends RedisClientLike {
  subscribe(channel: string): Promise<unknown>;
}

/**
 * Invalidation bus over Redis pub/sub, on its own subscriber connection (a subscribed
 * connection cannot run other commands). Reports health so the tiered store can shorten L1
 * lifetimes while messages may be missed, and calls `onResync` after a reconnect (messages sent
 * during the outage are lost: the L1 must be dropped).
 */
export class RedisBus {
  private subscriber: Subscriber | undefined;
  private readonly handlers = new Map<string, (message: BusMessage) => void>();
  private resync: (() => void) | undefined;
  private _healthy = false;
  private wasDown = false;

  constructor(
    private readonly publisher: RedisClientLike,
    private readonly duplicate: () => RedisClientLike,
  ) {}

  get healthy(): boolean {
    return this._healthy;
  }

  /** Listens on `channel` (one handler per channel; several channels share the connection). */
  start(channel: string, handler: (message: BusMessage) => void, onResync: () => void): void {
    this.handlers.set(channel, handler);
    this.resync = onResync;
    if (this.subscriber !== undefined) {
      if (this.subscriber.status === 'ready') void this.subscribe();
      return;
    }
    const sub = this.duplicate() as Subscriber;
    this.subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', (...args: unknown[]) => this.receive(args[0] as string, args[1] as string));
    sub.on('ready', () => void this.subscribe());
    sub.on('close', () => this.down());
    sub.on('end', () => this.down());
    sub.on('reconnecting', () => this.down());
    if (sub.status === 'ready') void this.subscribe();
  }

  async publish(channel: string, message: BusMessage): Promise<void> {
    await this.publisher.publish(channel, JSON.stringify(message));
  }

  async close(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = undefined;
    this._healthy = false;
    if (sub === undefined) return;
    try {
      await Promise.race([sub.quit(), new Promise((r) => setTimeout(r, 500).unref?.())]);
    } catch {
      // already gone
    }
    sub.disconnect();
  }

  private async subscribe(): Promise<void> {
    try {
      const channels = [...this.handlers.keys()];
      await (this.subscriber as unknown as { subscribe(...c: string[]): Promise<unknown> } | undefined)?.subscribe(...channels);
      this._healthy = true;
      if (this.wasDown) {
        this.wasDown = false;
        this.resync?.();
      }
    } catch {
      this.down();
    }
  }

  private down(): void {
    if (this._healthy) this.wasDown = true;
    this._healthy = false;
  }

  private receive(channel: string, raw: string): void {
    const handler = this.handlers.get(channel);
    if (handler === undefined) return;
    try {
      const message = JSON.parse(raw) as BusMessage;
      if (typeof message === 'object' && message !== null && typeof message.from === 'string') handler(message);
    } catch {
      // not ours: ignore
    }
  }
}
