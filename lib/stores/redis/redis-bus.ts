import type { BusTransport } from '../../types/bus';
import type { RedisClientLike } from './redis.types';

interface Subscriber extends RedisClientLike {
  subscribe(...channels: string[]): Promise<unknown>;
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

  constructor(
    private readonly publisher: RedisClientLike,
    private readonly duplicate: () => RedisClientLike,
  ) {}

  /** Each call adds its channels to the one subscriber connection. */
  subscribe(
    channels: readonly string[],
    onMessage: (channel: string, text: string) => void,
    onState: (up: boolean) => void,
  ): void {
    this.listeners.push({ channels: new Set(channels), onMessage, onState });
    if (this.subscriber !== undefined) {
      if (this.subscriber.status === 'ready') void this.resubscribe();
      return;
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
    if (sub.status === 'ready') void this.resubscribe();
  }

  async publish(channel: string, text: string): Promise<number> {
    return this.publisher.publish(channel, text);
  }

  async close(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = undefined;
    this.listeners.length = 0;
    if (sub === undefined) return;
    try {
      await Promise.race([sub.quit(), new Promise((r) => setTimeout(r, 500).unref?.())]);
    } catch {
      // already gone
    }
    sub.disconnect();
  }

  private state(up: boolean): void {
    for (const l of this.listeners) l.onState(up);
  }

  private async resubscribe(): Promise<void> {
    try {
      const channels = new Set(this.listeners.flatMap((l) => [...l.channels]));
      await this.subscriber?.subscribe(...channels);
      this.state(true);
    } catch {
      this.state(false);
    }
  }
}
