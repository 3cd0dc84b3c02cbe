/**
 * The server list in one order: memjs places a key at `hash(key) % servers.length` in the list as
 * given, so two instances listing the same servers in another order would keep a key's version
 * records on different servers, and an invalidation on one would never reach the other.
 */
export function serverList(servers: string): string {
  return servers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .sort()
    .join(',');
}
