import { createServer, Socket, type Server } from 'node:net';
import { redisStore, type CacheStore } from '../../lib';

/**
 * Store budgets (a store's commandTimeout, the module's operationTimeout) that outlast the stalls
 * of the specs that make lookups slow, not unreachable: past a budget a call runs uncached and
 * starts nothing to join, which is another case.
 */
export const SLOW_NOT_DOWN_MS = 2_000;

interface Gate {
  /** The first reply after arming reaches the app at this time (ms since epoch). */
  firstAt: number;
  firstTaken: boolean;
  /** Every later reply is held until this time. */
  holdUntil: number;
  /** Called as the first reply is passed on, before the app reads it. */
  onFirst?: () => void;
}

class Link {
  readonly queue: Buffer[] = [];
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
  ) {}
}

/**
 * A TCP proxy in front of a Redis server whose replies can be stalled on cue, for the tests that
 * need a store that answers one round trip slowly and then goes silent (connected, no replies):
 * a window no server-side pause can aim at. Requests always go through at once; only replies
 * (server to app) are held, in order.
 */
export class StallingProxy {
  private gate: Gate | undefined;
  private readonly links = new Set<Link>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<StallingProxy> {
    // The connection handler needs the proxy, which needs the listening server: assigned below.
    // eslint-disable-next-line prefer-const
    let proxy!: StallingProxy;
    const server = createServer((client) => proxy.accept(client, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy = new StallingProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  /** A proxy in front of the Redis server at `redisUrl`. */
  static before(redisUrl: string): Promise<StallingProxy> {
    return StallingProxy.start(Number(new URL(redisUrl).port));
  }

  /** A Redis store through the proxy whose commandTimeout outlasts its stalls (SLOW_NOT_DOWN_MS). */
  slowRedisStore(): CacheStore {
    return redisStore({ url: this.url, commandTimeout: SLOW_NOT_DOWN_MS });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * The next reply reaches the app `firstDelayMs` from now; every reply after it is held until
   * `silentForMs` from now, then delivered in order.
   */
  stall(firstDelayMs: number, silentForMs: number, onFirst?: () => void): void {
    const now = Date.now();
    this.gate = { firstAt: now + firstDelayMs, firstTaken: false, holdUntil: now + silentForMs, onFirst };
  }

  /** Whether the silence of the last `stall` is still on (replies are being held). */
  get holding(): boolean {
    return this.gate !== undefined && this.gate.firstTaken && Date.now() < this.gate.holdUntil;
  }

  /** Delivers everything held and stops stalling. */
  release(): void {
    this.gate = undefined;
    for (const link of this.links) this.pump(link);
  }

  async close(): Promise<void> {
    this.gate = undefined;
    for (const link of this.links) {
      clearTimeout(link.timer);
      link.client.destroy();
      link.upstream.destroy();
    }
    this.links.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    const upstream = new Socket();
    const link = new Link(client, upstream);
    this.links.add(link);
    const drop = () => {
      clearTimeout(link.timer);
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      link.queue.push(chunk);
      this.pump(link);
    });
    upstream.connect(targetPort, '127.0.0.1');
  }

  private pump(link: Link): void {
    clearTimeout(link.timer);
    link.timer = undefined;
    while (link.queue.length > 0) {
      const gate = this.gate;
      const now = Date.now();
      if (gate === undefined || now >= gate.holdUntil) {
        if (gate !== undefined) this.gate = undefined;
        link.client.write(link.queue.shift()!);
        continue;
      }
      if (!gate.firstTaken && now >= gate.firstAt) {
        gate.firstTaken = true;
        gate.onFirst?.();
        link.client.write(link.queue.shift()!);
        continue;
      }
      const wake = gate.firstTaken ? gate.holdUntil : gate.firstAt;
      link.timer = setTimeout(() => this.pump(link), Math.max(1, wake - now));
      return;
    }
  }
}
