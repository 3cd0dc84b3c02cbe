/**
 * The server list in one order: memjs places a key at `hash(key) % servers.length` in the list as
 * given, so two instances listing the same servers in another order would keep a key's version
 * records on different servers, and an invalidation on one would never reach the other. Sorted by
 * host and port only, so instances whose credentials differ (during a rotation) agree too.
 */
export function serverList(servers: string): string {
  return servers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .sort((a, b) => compare(host(a), host(b)) || compare(a, b))
    .join(',');
}

/** Where a server is (credentials are not: a rotated password must not move keys). */
const host = (server: string) => server.slice(server.lastIndexOf('@') + 1);
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
