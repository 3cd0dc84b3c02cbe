import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureServerBinaries, MemcachedServer, RedisCluster, RedisServer } from './servers';

/** Per Jest run (runs may overlap on one machine); workers inherit the variable from this process. */
export function serversFile(): string {
  return process.env.NCM_SERVERS_FILE ?? join(__dirname, '../../.tmp/servers.json');
}

export interface SharedServers {
  redis: string;
  cluster: Array<{ host: string; port: number }>;
  memcached: string[];
}

/** Starts the servers shared by the store suites once per Jest run. */
export default async function globalSetup(): Promise<void> {
  ensureServerBinaries();
  const [redis, cluster, mc1, mc2] = await Promise.all([
    RedisServer.launch(),
    RedisCluster.launch(3),
    MemcachedServer.launch(),
    MemcachedServer.launch(),
  ]);
  (globalThis as { __servers?: unknown }).__servers = { redis, cluster, mc1, mc2 };
  const shared: SharedServers = {
    redis: redis.url,
    cluster: cluster.startupNodes,
    memcached: [mc1.address, mc2.address],
  };
  mkdirSync(join(__dirname, '../../.tmp'), { recursive: true });
  process.env.NCM_SERVERS_FILE = join(__dirname, `../../.tmp/servers-${process.pid}.json`);
  writeFileSync(serversFile(), JSON.stringify(shared));
}
