import { InvalidOptionError } from '../../errors';

export type { RedisStoreOptions } from './redis-client';
import type { CacheStore, SharedEntryOptions } from '../../types/store';
import { addressOf, connectionProblem, createClient, describe, type RedisStoreOptions } from './redis-client';
import { followMaster, watchPassedInClient, type Reconnectable } from './sentinel-watch';
import type { RedisClientLike, RedisCommandsLike } from './redis.types';
import { RedisBus } from './redis-bus';
import { refuseCreatedReplicaReads, refuseReplicaReads } from './replica-reads';
import { checkEntryOptions } from '../../util/entry-options';
import { adaptNodeRedis, NodeRedisClient } from './node-redis-client';
import { parseDuration, TIMER } from '../../util/duration';
import { asBuffer } from '../../util/bytes';

const SCAN_COUNT = 1_000;

/**
 * Redis on ioredis: single node, Sentinel or Cluster. Clients it creates use auto-pipelining,
 * a bounded command timeout and no offline queue, so an outage fails fast instead of queueing;
 * they reconnect on their own. A client passed in is used as is and never closed here: ioredis or
 * iovalkey as it is, node-redis through an adapter that bounds each command (node-redis-client.ts).
 */
export class RedisStore implements CacheStore {
  readonly kind = 'redis';
  readonly client: RedisClientLike;
  readonly description: string;
  readonly boundsOwnOperations: boolean;
  readonly entryOptions: SharedEntryOptions;
  private readonly owned: boolean;
  private readonly cluster: boolean;
  /** Where it connects (host:port), for messages a person can act on. */
  private readonly address: string;
  /** Its own connection closing (disconnect under way). */
  private closing: Promise<void> | undefined;
  /** Why the last connection attempt failed, e.g. 'connection refused'. */
  private connectionError: string | undefined;
  /** Ends this store's share of the master check on a Sentinel client passed in. */
  private unwatch: (() => void) | undefined;

  constructor(options: RedisStoreOptions) {
    this.entryOptions = checkEntryOptions(options, 'redisStore()');
    let nodeRedis: NodeRedisClient | undefined;
    if ('client' in options) {
      const timeout = parseDuration(options.commandTimeout ?? 500, 'redisStore(): commandTimeout', TIMER);
      nodeRedis = adaptNodeRedis(options.client, timeout);
      if (!nodeRedis) refuseReplicaReads(options.client, true);
      this.client = nodeRedis ?? (options.client as RedisClientLike);
      this.owned = false;
      this.description = nodeRedis ? `a node-redis ${nodeRedis.flavor} passed in` : 'a client passed in';
      const o = (options.client as { options?: { host?: string; port?: number } }).options;
      this.address =
        nodeRedis?.address ?? (o?.host !== undefined ? `${o.host}:${o.port ?? 6379}` : 'the client passed in');
      if (!nodeRedis) this.watchPassedIn();
    } else {
      refuseCreatedReplicaReads(options);
      this.client = createClient(options);
      this.owned = true;
      this.description = describe(options);
      this.address = addressOf(options);
    }
    if (this.owned || nodeRedis) {
      // Connection errors surface as failed commands (misses), explained by their cause; keep
      // ioredis from printing each (and a node-redis client from throwing them).
      this.client.on('error', (...args: unknown[]) => {
        this.connectionError = connectionProblem(args[0]);
      });
      this.client.on('ready', () => {
        this.connectionError = undefined;
      });
    }
    this.cluster = (this.client as { isCluster?: boolean }).isCluster === true;
    // Clients created here have commandTimeout and no offline queue, and the node-redis adapter
    // bounds every command itself; an ioredis client passed in may have neither.
    this.boundsOwnOperations = this.owned || nodeRedis !== undefined;
  }

  /** A command failed because the connection is down: say where and why, not ioredis' internals. */
  private readonly explain = (error: unknown): never => {
    const message = error instanceof Error ? error.message : String(error);
    if (
      /Stream isn't writeable|Connection is closed|ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ECONNRESET|The client is (closed|offline)|Socket closed unexpectedly/.test(
        message,
      )
    ) {
      throw new Error(`cannot reach Redis at ${this.address} (${this.connectionError ?? 'not connected'})`, {
        cause: error,
      });
    }
    throw error;
  };

  get connectionProblem(): string | undefined {
    return this.connectionError;
  }

  /** Resolves true once connected, false after `timeoutMs` (the app boots either way). */
  async ready(timeoutMs: number): Promise<boolean> {
    await this.closing; // a QUIT under way (the last app before this one closing) lands first
    if (!this.owned) this.watchPassedIn(); // given to a new app after the last one closed
    if (this.client.status === 'ready') return true;
    // Closed when the last app using it closed, and given to a new app (a test suite's store): reopen.
    if (this.owned && this.client.status === 'end') this.client.connect?.().catch(() => undefined);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        clearInterval(poll);
        this.client.off('ready', onReady);
        this.client.off('error', onError);
        resolve(ok);
      };
      const onReady = () => done(true);
      // Wrong credentials do not heal by waiting: say so now (it logged "not reachable yet" after the full wait).
      const onError = (error: unknown) => connectionProblem(error) === 'authentication failed' && done(false);
      this.client.on('error', onError);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref?.();
      // Some clients never say 'ready' (node-redis 5's sentinel emits no connection events).
      const poll = setInterval(() => this.client.status === 'ready' && done(true), 50);
      poll.unref?.();
      this.client.once('ready', onReady);
    });
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.client.getBuffer(key).then(orUndefined, this.explain);
  }

  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    if (keys.length === 0) return Promise.resolve([]);
    // MGET needs one slot; on a cluster, single GETs, all sent before any reply comes back.
    if (this.cluster) return Promise.all(keys.map((k) => this.get(k)));
    return this.client.mgetBuffer(...keys).then(nullsToUndefined, this.explain);
  }

  async set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    await this.client.set(key, asBuffer(value), 'PX', ttl(ttlMs)).catch(this.explain);
  }

  async add(key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    return (await this.client.set(key, asBuffer(value), 'PX', ttl(ttlMs), 'NX').catch(this.explain)) === 'OK';
  }

  /** PEXPIRE per key (auto-pipelined, one slot each: fine on a cluster). */
  async touch(keys: readonly string[], ttlMs: number): Promise<void> {
    await Promise.all(keys.map((k) => this.client.pexpire(k, ttl(ttlMs))));
  }

  async delete(key: string): Promise<boolean> {
    return (await this.client.unlink(key)) > 0;
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    if (!this.cluster) return this.client.unlink(...keys);
    const counts = await Promise.all(keys.map((k) => this.client.unlink(k)));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** SCAN + UNLINK on every master (never FLUSHDB): entries of other apps are untouched. */
  async clear(prefix: string): Promise<void> {
    const nodes: RedisCommandsLike[] = this.cluster && this.client.nodes ? this.client.nodes('master') : [this.client];
    const match = `${escapeGlob(prefix)}*`;
    await Promise.all(
      nodes.map(async (node) => {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
          cursor = next;
          // As deleteMany: on a cluster per key through the cluster client (keys of one node span
          // slots, and one migrating or moved since the scan answers MOVED/ASK, which only it follows).
          await this.deleteMany(keys);
        } while (cursor !== '0');
      }),
    );
  }

  /** An ioredis Sentinel client passed in is checked as the store's own are, while the store uses it. */
  private watchPassedIn(): void {
    this.unwatch ??= watchPassedInClient(this.client);
  }

  /** A pub/sub bus on a duplicate of this store's connection (same options, its own socket). */
  createBus(): RedisBus {
    const client = this.client as RedisClientLike & {
      duplicate?: (options?: { autoResubscribe: boolean }) => RedisClientLike;
      canDuplicate?: boolean;
    };
    if (typeof client.duplicate !== 'function' || client.canDuplicate === false) {
      throw new InvalidOptionError(
        'tieredStore(): the Redis client passed in cannot duplicate() its connection for the invalidation bus ' +
          "(node-redis 5's createSentinel() cannot). Pass tieredStore(l1, l2, { bus: false }) (every L1 hit is then " +
          'confirmed against L2), or a client that can (ioredis, node-redis 6).',
      );
    }
    // ioredis resubscribes a reconnected connection with a promise nobody awaits: when that SUBSCRIBE
    // outlives commandTimeout (the loop blocked, the server frozen just then) its rejection ends the
    // process. The bus subscribes on 'ready' itself. (A Cluster's duplicate subscribes through its
    // ClusterSubscriber, which catches; node-redis resubscribes on its own.)
    const ioredisSingle = this.client.isCluster !== true && !(this.client instanceof NodeRedisClient);
    return new RedisBus(this.client, () => {
      const subscriber = ioredisSingle ? client.duplicate!({ autoResubscribe: false }) : client.duplicate!();
      followMaster(client, subscriber as RedisClientLike & Reconnectable);
      return subscriber;
    });
  }

  /** Redis' clock (TIME), epoch ms with microseconds. */
  async time(): Promise<number> {
    const [seconds, micros] = (await this.client.time()) as [string | number, string | number];
    return Number(seconds) * 1000 + Number(micros) / 1000;
  }

  /** Deletes `key` only if it still holds `value` (lock release). Atomic via a Lua script. */
  async compareAndDelete(key: string, value: Uint8Array): Promise<boolean> {
    const script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
    return (await this.client.eval(script, 1, key, asBuffer(value))) === 1;
  }

  /** Replaces `key`'s value only if it still holds `expected` (expire's retiming). Atomic via a Lua script. */
  async compareAndSet(key: string, expected: Uint8Array, value: Uint8Array, ttlMs: number): Promise<boolean> {
    const script =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end";
    const args = [asBuffer(expected), asBuffer(value), String(ttl(ttlMs))];
    return (await this.client.eval(script, 1, key, ...args).catch(this.explain)) === 1;
  }

  disconnect(): Promise<void> {
    return (this.closing ??= this.close().finally(() => (this.closing = undefined)));
  }

  private async close(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    if (!this.owned || this.client.status === 'end') return;
    const ended = new Promise<void>((resolve) => {
      this.client.once('end', () => resolve());
      setTimeout(resolve, 1_000).unref?.();
    });
    try {
      await Promise.race([this.client.quit(), ended]);
    } catch {
      // already closed or unreachable
    }
    if (this.client.status !== 'end') this.client.disconnect();
    await ended;
  }
}

export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}

function orUndefined<T>(value: T | null): T | undefined {
  return value ?? undefined;
}

function nullsToUndefined<T>(values: Array<T | null>): Array<T | undefined> {
  for (let i = 0; i < values.length; i++) if (values[i] === null) values[i] = undefined as T;
  return values as Array<T | undefined>;
}

function ttl(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs));
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
