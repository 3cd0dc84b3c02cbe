import { InvalidOptionError } from '../../errors';
import { parseDuration, TIMER, type Duration } from '../../util/duration';
import { optionalRequire } from '../../util/optional-require';
import type { SharedEntryOptions } from '../../types/store';
import type { NodeRedisClientLike } from './node-redis-client';
import type { RedisClientLike, RedisClusterNode, RedisConnectionOptions } from './redis.types';
import { SENTINEL_CHECK_MS, sentinelProbe, watchSentinelMaster } from './sentinel-watch';

/* How RedisStore creates its ioredis client (fail fast, bounded, reconnecting) and describes it. */

interface RedisCommon {
  /** Bound on every command; a down or slow Redis costs a call at most this. Default 500 ms. */
  commandTimeout?: Duration;
  /** Bound on connecting. Default 2 s. */
  connectTimeout?: Duration;
  /** Extra ioredis options (password, username, tls, db, ...), passed through. */
  redisOptions?: RedisConnectionOptions;
}

export type RedisStoreOptions = (
  | ({ url: string } & RedisCommon)
  | {
      /** An ioredis or iovalkey client (Redis or Cluster), or a node-redis client, cluster or sentinel. */
      client: RedisClientLike | NodeRedisClientLike;
      /** node-redis only: bound on every command the store sends through it. Default 500 ms. */
      commandTimeout?: Duration;
    }
  | ({ cluster: RedisClusterNode[]; clusterOptions?: RedisConnectionOptions } & RedisCommon)
  | ({ sentinels: Array<{ host: string; port: number }>; name: string } & RedisCommon)
) &
  SharedEntryOptions;

interface IoredisModule {
  Redis: new (...args: unknown[]) => RedisClientLike;
  Cluster: new (...args: unknown[]) => RedisClientLike;
}

export function createClient(options: Exclude<RedisStoreOptions, { client: unknown }>): RedisClientLike {
  const ioredis = optionalRequire<IoredisModule>('ioredis', 'redisStore()');
  const commandTimeout = parseDuration(options.commandTimeout ?? 500, 'redisStore(): commandTimeout', TIMER);
  const connectTimeout = parseDuration(options.connectTimeout ?? 2_000, 'redisStore(): connectTimeout', TIMER);
  const failFast = {
    enableAutoPipelining: true,
    commandTimeout,
    connectTimeout,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect quickly after an outage: caching resumes within about a second.
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, 1_000),
  };
  if ('cluster' in options) {
    if (!Array.isArray(options.cluster) || options.cluster.length === 0) {
      throw new InvalidOptionError('redisStore(): cluster must list at least one startup node, e.g. [{ host, port }].');
    }
    const { enableAutoPipelining: _pipelining, enableOfflineQueue, retryStrategy: _retry, ...perNode } = failFast;
    return new ioredis.Cluster(options.cluster, {
      // No auto-pipelining: ioredis follows MOVED/ASK for a pipeline only when all of it failed alike
      // and the rest was read-only, so during resharding mixed batches failed (and opened the breaker).
      enableAutoPipelining: false,
      // A master frozen and failed over answers nothing, not MOVED: without a periodic refresh the
      // client would wait for TCP to give up before it learned the new master.
      slotsRefreshInterval: 2_000,
      enableOfflineQueue,
      clusterRetryStrategy: (times: number) => Math.min(50 * 2 ** times, 1_000),
      ...options.clusterOptions,
      redisOptions: {
        ...perNode,
        ...options.redisOptions,
        ...(options.clusterOptions?.redisOptions as object | undefined),
      },
    });
  }
  if ('sentinels' in options) {
    const sentinelOptions: Record<string, unknown> = {
      ...failFast,
      // Follow Sentinel's +switch-master at once. Otherwise the client stays on the old master until
      // Sentinel demotes it and drops its clients (seconds; never while it stays frozen): it reads
      // entries invalidated on the new master, and its own invalidations land where they are lost.
      failoverDetector: true,
      // A frozen Sentinel (its socket accepted by the kernel) answered nothing and was asked first
      // on every reconnection: caching stopped while two other Sentinels were healthy (review).
      sentinelCommandTimeout: commandTimeout,
      // Lost +switch-master subscriptions came back after 60 s (ioredis' default).
      sentinelReconnectStrategy: (times: number) => Math.min(100 * 2 ** times, 1_000),
      sentinels: options.sentinels,
      name: options.name,
      ...options.redisOptions,
    };
    const client = new ioredis.Redis(sentinelOptions);
    const probe = sentinelProbe(ioredis.Redis, sentinelOptions, connectTimeout, commandTimeout);
    watchSentinelMaster(
      client as never,
      options.name,
      options.sentinels,
      probe,
      SENTINEL_CHECK_MS,
      sentinelOptions.natMap,
    );
    return client;
  }
  if (typeof options.url !== 'string' || !/^rediss?:\/\//i.test(options.url)) {
    throw new InvalidOptionError(
      `redisStore(): url must look like redis://host:6379 (or rediss:// for TLS), got ${JSON.stringify(typeof options.url === 'string' ? withoutCredentials(options.url) : options.url)}.`,
    );
  }
  if (!parsesWhole(options.url)) {
    // ioredis' own error quotes the URL, password included, into the logs.
    throw new InvalidOptionError(
      `redisStore(): url ${JSON.stringify(withoutCredentials(options.url))} is not a URL a client can read: a password ` +
        `holding '#', '?', '/' or '%' must be percent-encoded (encodeURIComponent(password)), or passed as ` +
        `redisOptions: { password }.`,
    );
  }
  return new ioredis.Redis(options.url, { ...failFast, ...options.redisOptions });
}

/** Parses and decodes, and no path or fragment holds an '@' (an unencoded '/', '?' or '#' cut the password there). */
function parsesWhole(url: string): boolean {
  try {
    const { pathname, hash, username, password } = new URL(url);
    decodeURIComponent(username + password); // ioredis decodes them: a stray '%' throws there
    return !`${pathname}${hash}`.includes('@'); // (a query may hold one: ?name=a@b)
  } catch {
    return false;
  }
}

export function describe(options: Exclude<RedisStoreOptions, { client: unknown }>): string {
  if ('cluster' in options)
    return `cluster ${options.cluster.map((n) => (typeof n === 'object' ? `${n.host}:${n.port}` : String(n))).join(',')}`;
  if ('sentinels' in options) return `sentinel master '${options.name}'`;
  return withoutCredentials(options.url);
}

/** A URL as it may be logged: up to its last `@` masked (ioredis reads a password up to the last one). */
function withoutCredentials(url: string): string {
  // A password may also ride in the query (?password=...), as ioredis reads it.
  const masked = url.replace(/([?&](?:sentinel)?password=)[^&#]*/gi, '$1***');
  const at = masked.lastIndexOf('@'); // over-masks a query holding '@' rather than risk a password
  if (at < 0) return masked;
  const scheme = /^\s*[a-z][a-z0-9+.-]*:\/*/i.exec(masked)?.[0] ?? '';
  return `${scheme}***${masked.slice(at)}`;
}

/** host:port (or the nodes) the options point at, credentials left out. */
export function addressOf(options: Exclude<RedisStoreOptions, { client: unknown }>): string {
  if ('cluster' in options)
    return options.cluster.map((n) => (typeof n === 'object' ? `${n.host}:${n.port}` : String(n))).join(',');
  if ('sentinels' in options)
    return `the master '${options.name}' of sentinels ${options.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  try {
    const url = new URL(options.url);
    return `${url.hostname}:${url.port || 6379}`;
  } catch {
    return 'the configured url';
  }
}

/** A connection error in words: 'connection refused', 'authentication failed'... */
export function connectionProblem(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ETIMEDOUT: 'connect timed out',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host not found',
    EHOSTUNREACH: 'host unreachable',
    ECONNRESET: 'connection reset',
  };
  if (typeof code === 'string' && code in known) return known[code];
  if (/NOAUTH|WRONGPASS|invalid password/i.test(message)) return 'authentication failed';
  return message;
}
