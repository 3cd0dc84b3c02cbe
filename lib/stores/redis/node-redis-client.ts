import { EventEmitter } from 'node:events';
import { NodeRedisCommands, type Sender } from './node-redis-commands';
import type { RedisClientLike, RedisCommandsLike } from './redis.types';

/*
 * node-redis (the `redis` package, 5 or 6) adapted to the ioredis-shaped slice RedisStore uses,
 * recognised by its shape, never imported (the package does not need `redis`). Each command is
 * bounded by node-redis-commands.ts.
 */

/**
 * What RedisStore needs of a node-redis client: `createClient()`, `createCluster()` or
 * `createSentinel()` from `redis` (or `@redis/client`), connected by you.
 */
export interface NodeRedisClientLike {
  readonly isOpen: boolean;
  /** node-redis 5's cluster has none (its readiness is read from its slots here). */
  readonly isReady?: boolean;
  sendCommand(...args: never[]): Promise<unknown>;
  duplicate(...args: never[]): unknown;
  connect(): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

export type NodeRedisFlavor = 'client' | 'cluster' | 'sentinel';

type NodeOptions = { url?: string; socket?: { host?: string; port?: number } };

/** The node-redis surface used here (a client, a cluster and a sentinel differ in sendCommand). */
interface Raw {
  readonly isOpen: boolean;
  readonly isReady?: boolean;
  /** A client's options (a cluster's are `_options`). */
  readonly options?: NodeOptions & { rootNodes?: NodeOptions[] };
  readonly _options?: { rootNodes?: NodeOptions[] };
  sendCommand(...args: unknown[]): Promise<unknown>;
  /** node-redis 5's sentinel has none. */
  duplicate?(): Raw;
  connect(): Promise<unknown>;
  subscribe(channels: string[], listener: (message: string, channel: string) => void): Promise<unknown>;
  unsubscribe?(channels: string[], listener: (message: string, channel: string) => void): Promise<unknown>;
  close?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  destroy?(): unknown;
  disconnect?(): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Cluster only. */
  readonly masters?: unknown[];
  readonly replicas?: unknown[];
  nodeClient?(node: unknown): Raw | Promise<Raw>;
}

/** Whether `client` is a node-redis client, cluster or sentinel (ioredis has `status`, no `isOpen`). */
export function isNodeRedisClient(client: unknown): client is NodeRedisClientLike {
  const c = client as Partial<Record<'isOpen' | 'isReady' | 'sendCommand' | 'status', unknown>> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.sendCommand === 'function' &&
    typeof c.isOpen === 'boolean' &&
    (typeof c.isReady === 'boolean' || flavorOf(c as Raw) === 'cluster') &&
    !('status' in c)
  );
}

/**
 * Whether commands can be sent now. node-redis 5's cluster has no isReady: it is ready once open
 * with its slots discovered (masters known; emptied again when it closes).
 */
function readyOf(raw: Raw): boolean {
  return raw.isReady ?? (raw.isOpen && (raw.masters?.length ?? 0) > 0);
}

function flavorOf(raw: Raw): NodeRedisFlavor {
  if (typeof raw.nodeClient === 'function' && Array.isArray(raw.masters)) return 'cluster';
  if (typeof (raw as { getMasterNode?: unknown }).getMasterNode === 'function') return 'sentinel';
  return 'client';
}

function senderFor(raw: Raw, flavor: NodeRedisFlavor): Sender {
  // Always the master (isReadonly false): a replica may not have a write that just resolved yet.
  if (flavor === 'cluster') return (key, args, options) => raw.sendCommand(key, false, args, options);
  if (flavor === 'sentinel') return (_key, args, options) => raw.sendCommand(false, args, options);
  return (_key, args, options) => raw.sendCommand(args, options);
}

/**
 * A node-redis client, cluster or sentinel in the shape RedisStore and RedisBus use: status and
 * ioredis' event names ('ready', 'end', 'reconnecting', 'error', 'message'), `nodes('master')` on
 * a cluster, `duplicate()` (connected here, for the bus) and `subscribe(...channels)`.
 */
export class NodeRedisClient extends NodeRedisCommands implements RedisClientLike {
  readonly flavor: NodeRedisFlavor;
  readonly isCluster: boolean;
  /** Where it connects, for messages (never credentials). */
  readonly address: string;
  private readonly events = new EventEmitter();
  private readonly onMessage = (message: string, channel: string) => this.events.emit('message', channel, message);
  private closed = false;

  constructor(
    private readonly raw: Raw,
    timeoutMs: number,
  ) {
    const flavor = flavorOf(raw);
    super(senderFor(raw, flavor), timeoutMs, () => readyOf(raw));
    this.flavor = flavor;
    this.isCluster = flavor === 'cluster';
    this.address = addressOf(raw, flavor);
    // A node-redis client without an 'error' listener throws its connection errors (the process
    // exits): listening here keeps a Redis outage a cache miss.
    raw.on('error', (error) => {
      if (this.events.listenerCount('error') > 0) this.events.emit('error', error);
    });
    const relay = (from: string, to: string, when: () => boolean = () => true) =>
      raw.on(from, () => void (when() && this.events.emit(to)));
    if (this.isCluster) {
      relay('connect', 'ready');
      relay('node-ready', 'ready', () => readyOf(raw));
      relay('node-reconnecting', 'reconnecting');
      relay('disconnect', 'end');
    } else {
      relay('ready', 'ready');
      relay('reconnecting', 'reconnecting');
      relay('end', 'end');
    }
  }

  get status(): string {
    if (readyOf(this.raw)) return 'ready';
    return this.raw.isOpen ? 'connecting' : 'end';
  }

  /**
   * Cluster: each master (SCAN runs per node), each replica, or both ('all': the bus counts its
   * subscribers on every node the cluster's pub/sub connections may pick).
   */
  nodes(role: 'master' | 'slave' | 'all' = 'master'): RedisCommandsLike[] {
    const { raw } = this;
    if (!this.isCluster || raw.nodeClient === undefined) return [this];
    const masters = role === 'slave' ? [] : (raw.masters ?? []);
    const replicas = role === 'master' ? [] : (raw.replicas ?? []);
    return [...masters, ...replicas].map(
      (node) =>
        new NodeRedisCommands(
          async (_key, args, options) => (await raw.nodeClient!(node)).sendCommand(args, options),
          this.timeoutMs,
        ),
    );
  }

  /** Whether duplicate() can open a second connection (node-redis 5's sentinel cannot). */
  get canDuplicate(): boolean {
    return typeof this.raw.duplicate === 'function';
  }

  /** A new connection with the same options (the bus subscriber), connecting until closed. */
  duplicate(): NodeRedisClient {
    if (this.raw.duplicate === undefined) throw new Error('this node-redis client cannot duplicate() its connection');
    const copy = new NodeRedisClient(this.raw.duplicate(), this.timeoutMs);
    copy.keepConnecting();
    return copy;
  }

  /** Subscribes this connection; node-redis subscribes again by itself after a reconnection. */
  async subscribe(...channels: string[]): Promise<void> {
    await this.raw.subscribe(channels, this.onMessage);
  }

  async unsubscribe(...channels: string[]): Promise<void> {
    await this.raw.unsubscribe?.(channels, this.onMessage);
  }

  async quit(): Promise<void> {
    this.closed = true;
    const close = this.raw.close ?? this.raw.quit;
    if (this.raw.isOpen && close !== undefined) await close.call(this.raw);
  }

  disconnect(): void {
    this.closed = true;
    const destroy = this.raw.destroy ?? this.raw.disconnect;
    // destroy() may throw (already closed) or return a promise (a sentinel's): neither matters here.
    if (this.raw.isOpen)
      void Promise.resolve()
        .then(() => destroy?.call(this.raw))
        .catch(() => undefined);
  }

  on(event: string, listener: (...args: unknown[]) => void): this {
    this.events.on(event, listener);
    return this;
  }

  once(event: string, listener: (...args: unknown[]) => void): this {
    this.events.once(event, listener);
    return this;
  }

  off(event: string, listener: (...args: unknown[]) => void): this {
    this.events.off(event, listener);
    return this;
  }

  /** node-redis gives up on a first connection a cluster or sentinel cannot make: try again. */
  private keepConnecting(): void {
    if (this.closed) return;
    this.raw.connect().catch(() => {
      if (!this.closed && !this.raw.isOpen) setTimeout(() => this.keepConnecting(), 1_000).unref?.();
    });
  }
}

/** Wraps `client` when it is a node-redis client (commands bounded by `timeoutMs`), else undefined. */
export function adaptNodeRedis(client: unknown, timeoutMs: number): NodeRedisClient | undefined {
  return isNodeRedisClient(client) ? new NodeRedisClient(client as unknown as Raw, timeoutMs) : undefined;
}

function addressOf(raw: Raw, flavor: NodeRedisFlavor): string {
  if (flavor === 'sentinel') return 'the master of the sentinels';
  const one = (n: NodeOptions | undefined): string => {
    if (n?.url !== undefined) {
      try {
        const url = new URL(n.url);
        return `${url.hostname}:${url.port || 6379}`;
      } catch {
        return 'the configured url';
      }
    }
    return `${n?.socket?.host ?? 'localhost'}:${n?.socket?.port ?? 6379}`;
  };
  const rootNodes = raw._options?.rootNodes ?? raw.options?.rootNodes;
  return flavor === 'cluster' && rootNodes !== undefined ? rootNodes.map(one).join(',') : one(raw.options);
}
