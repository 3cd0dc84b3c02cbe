import { createServer, Socket, type Server } from 'node:net';
import { memoryStore, redisStore, tieredStore, type TieredStore } from '../../../lib';
import { Memoizer } from '../../../lib/engine/memoizer';
import { testPolicy } from '../../support/policy';
import { until } from '../../support/until';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function instance(url: string, prefix: string, lease?: number): Promise<Memoizer> {
  const store = tieredStore(memoryStore(), redisStore({ url }), lease === undefined ? {} : { lease });
  if (!(await store.ready(5_000))) throw new Error('redis not ready');
  return new Memoizer(store, { prefix });
}

export { until };

/**
 * Until the instance serves `key` from L1 (its lease is held). Read again meanwhile: a copy made
 * before the bus was first up is dropped when it comes up.
 */
export async function leased(m: Memoizer, key: string): Promise<void> {
  await until(async () => {
    if ((await m.inspect(key)).source === 'l1') return true;
    await m.getOrSet(key, async () => 'warm', policyFor(`${key}:warm`));
    return false;
  });
}

export async function closeAll(...ms: Memoizer[]): Promise<void> {
  for (const m of ms) {
    await m.close().catch(() => undefined);
    await m.store.disconnect().catch(() => undefined);
  }
}

export const policyFor = (tag: string) => testPolicy({ ttlMs: 60_000, deps: [tag] });
export type { TieredStore };

/** TCP proxy whose upstream side of a connection can be cut while the app side stays open (half-open). */
export class CutProxy {
  /** While set, a subscriber connection's commands are held (its SUBSCRIBE does not reach Redis). */
  holdSubscribers = false;
  readonly held: Array<() => void> = [];
  releaseSubscribers(): void {
    this.holdSubscribers = false;
    for (const f of this.held.splice(0)) f();
  }
  readonly links: Array<{ client: Socket; upstream: Socket; sawSubscribe: boolean; frozen: boolean }> = [];
  /** A command matching this freezes its connection: it and everything after never reach Redis. */
  freezeOn: RegExp | undefined;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}
  static async start(target: number): Promise<CutProxy> {
    // eslint-disable-next-line prefer-const
    let proxy!: CutProxy;
    const server = createServer((client) => {
      const upstream = new Socket();
      const link = { client, upstream, sawSubscribe: false, frozen: false };
      proxy.links.push(link);
      client.on('data', (c) => {
        if (/subscribe/i.test(c.toString('latin1'))) link.sawSubscribe = true;
        if (link.sawSubscribe && proxy.holdSubscribers) return void proxy.held.push(() => upstream.write(c));
        if (proxy.freezeOn?.test(c.toString('latin1'))) link.frozen = true; // the server stops answering
        if (link.frozen) return;
        if (!upstream.destroyed) upstream.write(c);
      });
      upstream.on('data', (c) => client.write(c));
      client.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('error', () => undefined);
      upstream.connect(target, '127.0.0.1');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    proxy = new CutProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  /** Closes the Redis side of subscriber connections; the app side stays open and silent. */
  cutSubscribersUpstream(): number {
    let n = 0;
    for (const l of this.links)
      if (l.sawSubscribe && !l.upstream.destroyed) {
        l.upstream.destroy();
        n++;
      }
    return n;
  }
  async close(): Promise<void> {
    for (const l of this.links) {
      l.client.destroy();
      l.upstream.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
