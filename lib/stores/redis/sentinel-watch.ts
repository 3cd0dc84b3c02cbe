import { isIP } from 'node:net';
import { withDeadline } from '../../util/deadline';
import { optionalRequire } from '../../util/optional-require';
import type { RedisClientLike } from './redis.types';

/** What the watch uses of an ioredis client connected to a Sentinel. */
export interface SentinelProbe {
  readonly status: string;
  sentinel(subcommand: 'MASTER', name: string): Promise<unknown>;
  disconnect(): void;
  on(event: 'error', listener: () => void): unknown;
}

/** A connection that follows the watched client to the new master (the bus's subscriber). */
export interface Reconnectable {
  readonly status: string;
  disconnect(reconnect?: boolean): void;
  once(event: 'end', listener: () => void): unknown;
}

/** How often a Sentinel client checks it is on the master the Sentinels name (as a Cluster refreshes its slots). */
export const SENTINEL_CHECK_MS = 2_000;

const followers = new WeakMap<object, Set<Reconnectable>>();

/** Watches under way, by client: stores sharing a client passed in share its watch. */
const watches = new WeakMap<object, { users: number; end(): void }>();

/**
 * `follower` reconnects when the watch finds `leader` on the wrong master. A subscribed connection
 * cannot ask its server who it is, and missed the same `+switch-master`.
 */
export function followMaster(leader: object, follower: Reconnectable): void {
  const set = followers.get(leader);
  if (set === undefined) return; // not a watched client
  set.add(follower);
  follower.once('end', () => set.delete(follower));
}

/** What the watch uses of the data client (ioredis in Sentinel mode). */
type WatchedClient = RedisClientLike & {
  info(section: 'server'): Promise<string>;
  disconnect(reconnect?: boolean): void;
};

/** A Sentinel as ioredis lists it. */
export interface SentinelAddress {
  host: string;
  port: number;
}

/** The connection the watch asks `SENTINEL MASTER` on, opened with the client's Sentinel credentials. */
export function sentinelProbe(
  Redis: new (options: Record<string, unknown>) => unknown,
  clientOptions: Record<string, unknown>,
  connectTimeout: number,
  commandTimeout: number,
): (sentinel: SentinelAddress) => SentinelProbe {
  return (sentinel) =>
    new Redis({
      host: sentinel.host,
      port: sentinel.port,
      username: clientOptions.sentinelUsername,
      password: clientOptions.sentinelPassword,
      tls: clientOptions.sentinelTLS,
      connectTimeout,
      commandTimeout,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
    }) as SentinelProbe;
}

/**
 * An ioredis (or iovalkey) client in Sentinel mode passed in by the application: its master name,
 * Sentinels and the constructor to open probes with; undefined for any other client.
 */
function passedInSentinelClient(
  client: unknown,
): { client: WatchedClient; options: Record<string, unknown>; name: string; sentinels: SentinelAddress[] } | undefined {
  const c = client as Partial<WatchedClient> & { options?: Record<string, unknown> };
  const options = c?.options;
  const sentinels = options?.sentinels;
  if (!Array.isArray(sentinels) || sentinels.length === 0 || typeof options?.name !== 'string') return undefined;
  if (typeof c.info !== 'function' || typeof c.disconnect !== 'function' || typeof c.on !== 'function')
    return undefined;
  const listed = sentinels.filter(
    (s): s is SentinelAddress => typeof s?.host === 'string' || typeof (s as { port?: unknown })?.port === 'number',
  );
  if (listed.length === 0) return undefined;
  return {
    client: c as WatchedClient,
    options,
    name: options.name,
    sentinels: listed.map((s) => ({ host: s.host ?? 'localhost', port: s.port ?? 26379 })),
  };
}

/**
 * Checks every `intervalMs` that the client is connected to the master the Sentinels name (by run
 * id), and reconnects it (ioredis asks the Sentinels again) when it is not. ioredis learns of a
 * failover only from `+switch-master`, which a client whose Sentinel subscriptions were down at
 * that moment never receives: it stayed on the old master until Sentinel demoted it, and for as
 * long as a partition kept the old master up, serving what the fleet had invalidated (found by
 * review: 791 of 791 reads stale over 80 s). The Sentinel connection closes with the client (it
 * would keep the process alive) and opens again at the next check once the client is back.
 */
export function watchSentinelMaster(
  client: WatchedClient,
  name: string,
  sentinels: readonly SentinelAddress[],
  connectProbe: (sentinel: SentinelAddress) => SentinelProbe,
  intervalMs: number,
  natMap?: unknown,
): () => void {
  const under = watches.get(client);
  if (under !== undefined) {
    under.users++;
    return release(client);
  }
  let next = 0;
  let infoDenied = false;
  let probe: SentinelProbe | undefined;
  let busy = false;
  let reconnectedAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  const following = new Set<Reconnectable>();
  followers.set(client, following);
  const close = () => {
    probe?.disconnect();
    probe = undefined;
  };
  const reconnect = () => {
    // At most one reconnection per three checks: Sentinels that disagree must not make it flap.
    if (performance.now() - reconnectedAt <= 3 * intervalMs) return;
    reconnectedAt = performance.now();
    client.disconnect(true);
    for (const f of following) if (f.status !== 'end') f.disconnect(true);
  };
  const check = async () => {
    if (busy || client.status !== 'ready') return;
    busy = true;
    try {
      let named: { runid: string; host: string; port: number } | undefined;
      try {
        if (probe === undefined || probe.status === 'end') {
          probe = connectProbe(sentinels[next]);
          probe.on('error', () => undefined);
        }
        named = settledMaster(await probe.sentinel('MASTER', name));
      } catch {
        close();
        next = (next + 1) % sentinels.length; // an unanswering Sentinel: ask the next one
        return;
      }
      if (named === undefined) return; // not known yet, or a failover under way
      if (infoDenied) {
        // Without INFO, the client's socket tells: ioredis connects to the address Sentinel names
        // (after natMap), an IP unless Sentinel announces host names, where the check stops.
        const there = at(client, named, natMap);
        if (there === undefined) return stop();
        if (!there) reconnect();
        return;
      }
      let own: string | undefined;
      try {
        // Bounded: a client passed in without commandTimeout waited on a frozen master for ever (review).
        const info = await withDeadline(client.info('server'), intervalMs);
        if (info === undefined) return reconnect();
        own = /^run_id:(\w+)/m.exec(info)?.[1];
      } catch (error) {
        // An ACL user without INFO (asking again would churn: review); the address is checked instead.
        if (/NOPERM/.test(String(error))) return void (infoDenied = true);
        // The server the client is on does not answer, and the Sentinels name a settled master:
        // a frozen old master the client would otherwise wait on until it thaws (review).
        return reconnect();
      }
      // A restarted master keeps its address and gets a new run id that Sentinel learns within
      // about 10 s: the same address is the same master.
      if (own !== undefined && own !== named.runid && at(client, named, natMap) !== true) reconnect();
    } finally {
      busy = false;
      if ((client.status as string) === 'end') close(); // closed while this check ran
    }
  };
  const start = () => {
    if (timer !== undefined) return;
    timer = setInterval(() => void check(), intervalMs);
    timer.unref?.();
  };
  const stop = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    close();
  };
  start();
  // A closed client is let go (the timer held it); one opened again is watched again.
  client.on('end', stop);
  client.on('ready', start);
  watches.set(client, {
    users: 1,
    end: () => {
      stop();
      client.off('end', stop);
      client.off('ready', start);
      followers.delete(client);
    },
  });
  return release(client);
}

/** Ends the store's share of the watch; the last one stops it (a client passed in outlives the store). */
function release(client: object): () => void {
  let released = false;
  return () => {
    const watch = watches.get(client);
    if (released || watch === undefined) return;
    released = true;
    if (--watch.users > 0) return;
    watches.delete(client);
    watch.end();
  };
}

/**
 * The client's socket is connected to the address Sentinel names (after `natMap`, as ioredis maps
 * it); undefined when that address is a host name, which a socket's address cannot be compared to.
 */
function at(client: WatchedClient, named: { host: string; port: number }, natMap: unknown): boolean | undefined {
  const stream = (client as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
  const key = `${named.host}:${named.port}`;
  const mapped =
    typeof natMap === 'function'
      ? ((natMap as (k: string) => { host: string; port: number } | undefined)(key) ?? named)
      : ((natMap as Record<string, { host: string; port: number }> | undefined)?.[key] ?? named);
  if (isIP(mapped.host) === 0) return undefined;
  const address = stream?.remoteAddress?.replace(/^::ffff:/, '');
  return stream?.remotePort === Number(mapped.port) && address === mapped.host;
}

/** The run id and address in a `SENTINEL MASTER` reply, when Sentinel sees that master up and settled. */
function settledMaster(reply: unknown): { runid: string; host: string; port: number } | undefined {
  if (!Array.isArray(reply)) return undefined;
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  const flags = fields.get('flags') ?? '';
  if (!/\bmaster\b/.test(flags) || /s_down|o_down|failover_in_progress|promoted/.test(flags)) return undefined;
  const [runid, host, port] = [fields.get('runid'), fields.get('ip'), Number(fields.get('port'))];
  return runid === undefined || runid === '' || host === undefined ? undefined : { runid, host, port };
}

/**
 * An ioredis Sentinel client passed in gets the check the store's own Sentinel clients have (it
 * missed `+switch-master` just as they did), with the timeouts it was given, for as long as a store
 * uses it: the application may go on using the client after its app closes. Returns the release,
 * or undefined for any other client.
 */
export function watchPassedInClient(client: unknown): (() => void) | undefined {
  const sentinel = passedInSentinelClient(client);
  const Redis = sentinel === undefined ? undefined : clientClass(sentinel.client);
  if (sentinel === undefined || Redis === undefined) return undefined;
  const o = sentinel.options;
  const ms = (value: unknown, otherwise: number) => (typeof value === 'number' && value > 0 ? value : otherwise);
  const probe = sentinelProbe(Redis, o, ms(o.connectTimeout, 2_000), ms(o.sentinelCommandTimeout, 500));
  return watchSentinelMaster(sentinel.client, sentinel.name, sentinel.sentinels, probe, SENTINEL_CHECK_MS, o.natMap);
}

type RedisClass = new (options: Record<string, unknown>) => unknown;

/** The ioredis or iovalkey class of `client` (its `constructor` is EventEmitter, by ioredis' mixin). */
function clientClass(client: object): RedisClass | undefined {
  let loaded: RedisClass | undefined;
  for (const name of ['ioredis', 'iovalkey']) {
    try {
      const Redis = optionalRequire<{ Redis?: RedisClass }>(name, 'redisStore()').Redis;
      if (typeof Redis !== 'function') continue;
      if (client instanceof Redis) return Redis;
      loaded ??= Redis; // another copy of the package: any client can ask a Sentinel
    } catch {
      // not installed
    }
  }
  return loaded;
}
