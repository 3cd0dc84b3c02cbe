/**
 * A publish/subscribe channel between app instances (Redis pub/sub for a tiered store). Text in,
 * text out: what the messages mean is the engine's business.
 */
export interface BusTransport {
  /** Subscribes to `channels` on a connection of its own; `onState(true)` after every (re)subscription. */
  subscribe(
    channels: readonly string[],
    onMessage: (channel: string, text: string) => void,
    onState: (up: boolean) => void,
  ): void;
  /** Resolves with the number of subscribers that received the message. */
  publish(channel: string, text: string): Promise<number>;
  close(): Promise<void>;
}
