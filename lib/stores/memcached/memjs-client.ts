import { optionalRequire } from '../../util/optional-require';
import type { MemcachedClientLike } from './memcached.store';
import { boundRequests } from './memjs-deadlines';
import { keepSequenceUnsigned } from './memjs-requests';
import { trackSockets } from './memjs-sockets';

/** The memjs client `memcachedStore({ servers })` creates: each request bounded by `timeoutMs`. */
export function createMemjs(
  servers: string,
  timeoutMs: number,
  memjsOptions: Record<string, unknown> | undefined,
): MemcachedClientLike {
  const memjs = optionalRequire<{ Client: { create(servers: string, options: object): MemcachedClientLike } }>(
    'memjs',
    'memcachedStore()',
  );
  const client = memjs.Client.create(servers, {
    // memjs' own timeout is a socket idle timeout: a backstop only (boundRequests bounds each
    // request, and does not fail one whose answer came in while the event loop was blocked).
    timeout: (timeoutMs * 4) / 1000,
    conntimeout: (timeoutMs * 2) / 1000,
    retries: 1,
    // No failover: memjs would send a down server's keys to another one, and when the server
    // came back its old version records (from before an invalidation) would be current again.
    // A down server's keys are misses, and invalidations of them fail loudly, until it returns.
    failover: false,
    keepAlive: true,
    // memjs logs every failure to the console; outages are reported by the circuit breaker.
    logger: { log: () => undefined },
    ...memjsOptions,
  });
  keepSequenceUnsigned(client);
  boundRequests(client, timeoutMs);
  trackSockets(client);
  return client;
}
