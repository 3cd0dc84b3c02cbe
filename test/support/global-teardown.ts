import { rmSync } from 'node:fs';
import type { MemcachedServer, RedisCluster, RedisServer } from './servers';

export default async function globalTeardown(): Promise<void> {
  const servers = (
    globalThis as {
      __servers?: { redis: RedisServer; cluster: RedisCluster; mc1: MemcachedServer; mc2: MemcachedServer };
    }
  ).__servers;
  if (!servers) return;
  await Promise.all([servers.redis.stop(), servers.cluster.stop(), servers.mc1.stop(), servers.mc2.stop()]);
  if (process.env.NCM_SERVERS_FILE) rmSync(process.env.NCM_SERVERS_FILE, { force: true });
}
