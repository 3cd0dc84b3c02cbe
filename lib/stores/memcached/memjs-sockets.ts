import type { MemcachedClientLike } from './memcached.store';

type SocketLike = {
  once(event: string, listener: () => void): unknown;
  listeners(event: string): Function[];
  removeAllListeners(event: string): unknown;
  destroyed?: boolean;
  destroy(): void;
};
/** A memjs 1.x server, as far as its sockets go. */
interface MemjsServer {
  _socket?: SocketLike;
  /** Connects when it has no socket, then runs `go` on it. */
  sock(sasl: boolean, go: (socket: SocketLike) => void): void;
  /** Ends its socket (FIN), if it has one. */
  close(): void;
}

const isServer = (s: unknown): s is MemjsServer =>
  typeof s === 'object' && s !== null && typeof (s as MemjsServer).sock === 'function';

/** The sockets memjs opened for a client and that have not closed yet. */
const openSockets = new WeakMap<MemcachedClientLike, Set<SocketLike>>();

/**
 * memjs forgets a socket it gives up on: its request and connect timeouts `end()` it and drop the
 * reference, and a frozen or silent server never closes it, so the process could not exit. Every
 * socket a server opens is recorded here until it closes, for `closeMemjs` to destroy.
 */
export function trackSockets(client: MemcachedClientLike): void {
  const servers = (client as { servers?: unknown }).servers;
  if (!Array.isArray(servers) || !servers.every(isServer)) return;
  const open = new Set<SocketLike>();
  openSockets.set(client, open);
  for (const server of servers) {
    const sock = server.sock;
    server.sock = function (this: MemjsServer, sasl, go) {
      const before = this._socket;
      sock.call(this, sasl, go);
      const socket = this._socket;
      if (socket === undefined || socket === before || socket.destroyed === true) return;
      open.add(socket);
      // memjs' own 'close' handler clears the server's socket, whichever it is by then: one given up
      // on closes after the next was opened, and orphaned it, connect callback and all, so the
      // requests written to it never left (found by review: two servers, one frozen at boot). It
      // runs only while its socket is still the server's.
      const memjsClose = socket.listeners('close');
      socket.removeAllListeners('close');
      socket.once('close', () => {
        open.delete(socket);
        if (this._socket === socket) for (const listener of memjsClose) listener.call(socket);
      });
    };
  }
}

/**
 * Ends a client's sockets, and destroys those still open after `graceMs` (a frozen or unreachable
 * server never closes its side, and the socket would keep the process alive). No QUIT: memjs sends
 * it to every server, opening a connection to one it had none with (after a timeout), which a
 * silent server then holds open. Resolves once every socket is closed. A client whose sockets
 * are not recorded (not memjs 1.x) is asked to quit.
 */
export async function closeMemjs(client: MemcachedClientLike, graceMs: number): Promise<void> {
  const open = openSockets.get(client);
  const servers = (client as { servers?: unknown }).servers;
  if (open === undefined || !Array.isArray(servers)) {
    try {
      client.quit();
    } catch {
      client.close();
    }
    return;
  }
  for (const server of servers as MemjsServer[]) server.close();
  await Promise.all(
    [...open].map(
      (socket) =>
        new Promise<void>((resolve) => {
          // Destroyed, it still closes in a later tick: resolved then, once memjs has let it go (a
          // request sent before would be written to it and lost; found by review).
          const timer = setTimeout(() => socket.destroy(), graceMs);
          timer.unref?.();
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        }),
    ),
  );
}
