/**
 * A publish/subscribe channel between app instances (Redis pub/sub for a tiered store). Text in,
 * text out: what the messages mean is the engine's business.
 */
export interface BusTransport {
  /**
   * Subscribes to `channels` on a connection of its own; `onState(true)` after every
   * (re)subscription. Returns what ends this subscription (an app closing while another app in the
   * process keeps the store); a transport that returns nothing keeps delivering to it.
   */
  subscribe(
    channels: readonly string[],
    onMessage: (channel: string, text: string) => void,
    onState: (up: boolean) => void,
  ): void | (() => void);
  /**
   * Publishes a message nobody waits on. Resolves with what the server reports, which on a Redis
   * Cluster counts only the subscribers of the node that took it.
   */
  publish(channel: string, text: string): Promise<number>;
  /**
   * Publishes a message whose receivers will be waited on. Resolves with at least the number of
   * subscribers that received it (on a cluster: counted on every node, before and after), or
   * undefined when that cannot be told (a node did not answer). A function is asked for the text
   * just before it is sent (after the counting that precedes it on a cluster).
   */
  publishCounted(channel: string, text: string | (() => string)): Promise<number | undefined>;
  close(): Promise<void>;
  /** Whether the subscription is up, waiting for it at most `timeoutMs` (the store's `ready` waits for it). */
  whenUp?(timeoutMs: number): Promise<boolean>;
}
