import Redis5, { Cluster as Cluster5 } from 'ioredis5';
import { redisStore, type RedisStore } from '../../lib';

/*
 * ioredis 5 (the older major the peer range allows; the devDependency `ioredis5` is an npm alias),
 * configured as redisStore({ url }) configures the clients it creates. Passed in: the store never
 * closes them, so the tests do.
 */
const open = new Set<{ disconnect(): void }>();
const failFast = {
  enableAutoPipelining: true,
  commandTimeout: 500,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
};

export function ioredis5Store(url: string): RedisStore {
  const client = new Redis5(url, { ...failFast, retryStrategy: (times) => Math.min(50 * 2 ** times, 1_000) });
  open.add(client);
  return redisStore({ client });
}

export function ioredis5ClusterStore(nodes: Array<{ host: string; port: number }>): RedisStore {
  const { commandTimeout, maxRetriesPerRequest, ...cluster } = failFast;
  const client = new Cluster5(nodes, { ...cluster, redisOptions: { commandTimeout, maxRetriesPerRequest } });
  open.add(client);
  return redisStore({ client });
}

export function closeIoredis5Clients(): void {
  for (const client of open) client.disconnect();
  open.clear();
}
