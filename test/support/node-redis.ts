import { createClient, createCluster, createSentinel } from 'redis';
import { redisStore, type NodeRedisClientLike, type RedisStore } from '../../lib';

/*
 * node-redis clients for the tests, created the way an app would: connect() called, not awaited
 * (the app boots whether Redis is up or not), no 'error' listener of their own (the store adds
 * one). The store never closes a client passed in, so the tests close them here.
 */

type NodeRedis = NodeRedisClientLike & { destroy(): unknown };
const open = new Set<NodeRedis>();
const clientOf = new WeakMap<object, NodeRedis>();

function track<T extends NodeRedis>(client: T): T {
  open.add(client);
  client.connect().catch(() => undefined);
  return client;
}

export function nodeRedisClient(url: string, options: { disableOfflineQueue?: boolean } = {}) {
  return track(createClient({ url, ...options }));
}

export function nodeRedisCluster(nodes: Array<{ host: string; port: number }>) {
  return track(createCluster({ rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })) }));
}

export function nodeRedisSentinel(sentinels: Array<{ host: string; port: number }>, name = 'mymaster') {
  return track(createSentinel({ name, sentinelRootNodes: sentinels }));
}

/** A store on `client` (a new node-redis client to `client` when it is a url). */
export function nodeRedisStore(client: string | NodeRedis, commandTimeout?: number): RedisStore {
  const raw = typeof client === 'string' ? nodeRedisClient(client) : client;
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
