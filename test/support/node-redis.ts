import * as redis6 from 'redis';
import * as redis5 from 'redis5';
import { redisStore, type NodeRedisClientLike, type RedisStore } from '../../lib';

/*
 * node-redis clients for the tests, created the way an app would: connect() called, not awaited
 * (the app boots whether Redis is up or not), no 'error' listener of their own (the store adds
 * one). The store never closes a client passed in, so the tests close them here.
 */

type NodeRedis = NodeRedisClientLike & { destroy(): unknown };
/** node-redis 6 (`redis`) or 5 (the devDependency `redis5`, an npm alias): the peer range's majors. */
export type NodeRedisMajor = 5 | 6;
type Opened = NodeRedis & { ping(): Promise<unknown>; listenerCount(event: string): number };
type Factories = {
  createClient(options: object): Opened;
  createCluster(options: object): Opened;
  createSentinel(options: object): Opened;
};
const libs = { 5: redis5 as unknown as Factories, 6: redis6 as unknown as Factories };
const open = new Set<NodeRedis>();
const clientOf = new WeakMap<object, NodeRedis>();

function track<T extends NodeRedis>(client: T): T {
  open.add(client);
  client.connect().catch(() => undefined);
  return client;
}

export function nodeRedisClient(
  url: string,
  options: { disableOfflineQueue?: boolean } = {},
  major: NodeRedisMajor = 6,
) {
  return track(libs[major].createClient({ url, ...options }));
}

export function nodeRedisCluster(nodes: Array<{ host: string; port: number }>, major: NodeRedisMajor = 6) {
  return track(libs[major].createCluster({ rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })) }));
}

export function nodeRedisSentinel(
  sentinels: Array<{ host: string; port: number }>,
  name = 'mymaster',
  major: NodeRedisMajor = 6,
  options: object = {},
) {
  return track(libs[major].createSentinel({ name, sentinelRootNodes: sentinels, ...options }));
}

/** A store on `client` (a new node-redis client to `client` when it is a url). */
export function nodeRedisStore(
  client: string | NodeRedis,
  commandTimeout?: number,
  major: NodeRedisMajor = 6,
): RedisStore {
  const raw = typeof client === 'string' ? nodeRedisClient(client, {}, major) : client;
  const store = redisStore({ client: raw, commandTimeout });
  clientOf.set(store, raw);
  return store;
}

async function close(client: NodeRedis | undefined): Promise<void> {
  if (client === undefined) return;
  open.delete(client);
  try {
    if (client.isOpen) await client.destroy();
  } catch {
    // already closed
  }
}

/** Closes the node-redis client of a store made by nodeRedisStore. */
export function closeClientOf(store: object): Promise<void> {
  return close(clientOf.get(store));
}

/** Closes every client created here that is still open. */
export async function closeNodeRedisClients(): Promise<void> {
  await Promise.all([...open].map(close));
}
