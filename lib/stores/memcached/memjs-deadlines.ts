import type { MemcachedClientLike } from './memcached.store';

/** A memjs 1.x server, as far as its deadlines go. */
interface MemjsServer {
  /** Each request's deadline (memjs' `timeout` after it was written), in order; answered ones are taken off. */
  requestTimeouts: number[];
  options?: { timeout?: number };
  /** Destroys its socket and fails every request waiting on it (the next request connects again). */
  error(error: Error): void;
}

const isServer = (s: unknown): s is MemjsServer =>
  typeof s === 'object' && s !== null && Array.isArray((s as MemjsServer).requestTimeouts) && 'error' in s;

/** memjs' clock (utils.timestamp): monotonic milliseconds. */
function memjsNow(): number {
  const [seconds, nanos] = process.hrtime();
  return seconds * 1000 + Math.round(nanos / 1_000_000);
}

/**
 * memjs records every request's deadline but checks them only when its socket has been idle for
 * the timeout (`socket.setTimeout`), and every write resets that: with a frozen or unreachable
 * server under steady traffic, nothing ever timed out (an invalidation waited for as long as
 * traffic went on; found by the fleet fuzz). Clients created here have their deadlines checked on
 * a timer (every quarter of `ms`; no work per request): a server whose oldest request is older
 * than `ms` is reset as memjs' own timeout would, failing what waits on it. The check runs after
 * the poll phase, so an answer that came in while the event loop was blocked is taken first. The
 * timer holds the client weakly and stops once it is gone.
 */
export function boundRequests(client: MemcachedClientLike, ms: number): void {
  const servers = (client as { servers?: unknown }).servers;
  if (!Array.isArray(servers) || !servers.every(isServer)) return;
  const held = new WeakRef(servers as MemjsServer[]);
  const check = () => {
    const all = held.deref();
    if (all === undefined) return clearInterval(timer);
    const now = memjsNow();
    for (const server of all) {
      const oldest = server.requestTimeouts[0];
      if (oldest === undefined) continue;
      // memjs' deadline is its own timeout after the write; ours is `ms` after it.
      const memjsMs = (server.options?.timeout ?? ms / 1000) * 1000;
      if (oldest - memjsMs + ms <= now) server.error(new Error(`memcached did not answer within ${ms} ms`));
    }
  };
  const timer = setInterval(() => setImmediate(check), Math.max(10, Math.floor(ms / 4)));
  timer.unref?.();
}
