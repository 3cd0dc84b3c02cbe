import { createServer, Socket, type Server } from 'node:net';
import { freePort, RedisServer } from './servers';

/**
 * A TCP proxy in front of one cluster node's bus port, which every other node's link to it goes
 * through. `hold()` stops forwarding what the other nodes send it (pub/sub messages they forward
 * among them) and keeps it; `cut()` then closes those links with what they hold unsent, as a link
 * dropped with messages in its buffer does. The nodes open new links on their own.
 */
export class BusProxy {
  private holding = false;
  private held: Buffer[] = [];
  private readonly links = new Set<{ from: Socket; to: Socket }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: number): Promise<BusProxy> {
    // The connection handler needs the proxy, which needs the listening server: assigned below.
    // eslint-disable-next-line prefer-const
    let proxy!: BusProxy;
    const server = createServer((from) => proxy.accept(from, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    proxy = new BusProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  hold(): void {
    this.holding = true;
  }

  /** Whether what is held contains `text` (a message's bytes travel as they were published). */
  holds(text: string): boolean {
    return Buffer.concat(this.held).includes(text);
  }

  /** Closes every link with what it holds; forwarding resumes on the links the nodes open next. */
  cut(): void {
    for (const link of this.links) {
      link.from.destroy();
      link.to.destroy();
    }
    this.links.clear();
    this.held = [];
    this.holding = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(from: Socket, target: number): void {
    const to = new Socket();
    const link = { from, to };
    this.links.add(link);
    to.connect(target, '127.0.0.1');
    from.on('data', (chunk: Buffer) => {
      if (this.holding) this.held.push(chunk);
      else to.write(chunk);
    });
    to.on('data', (chunk: Buffer) => from.write(chunk));
    const end = () => {
      this.links.delete(link);
      from.destroy();
      to.destroy();
    };
    for (const socket of [from, to]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }
}

/**
 * A Redis Cluster of masters (no replicas) whose bus links all go through a `BusProxy` per node:
 * each node listens for the bus on a port of its own and announces its proxy's. Built by hand
 * (`CLUSTER MEET` with the proxy's port, `ADDSLOTSRANGE`): `redis-cli --cluster create` assumes
 * the bus is on the port plus 10000.
 */
export class BusProxiedCluster {
  private constructor(
    readonly nodes: RedisServer[],
    readonly proxies: BusProxy[],
  ) {}

  static async launch(masters = 3): Promise<BusProxiedCluster> {
    const nodes: RedisServer[] = [];
    const proxies: BusProxy[] = [];
    for (let i = 0; i < masters; i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      const proxy = await BusProxy.start(busPort);
      proxies.push(proxy);
      nodes.push(
        await new RedisServer(port, [
          ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`],
          ...['--cluster-port', String(busPort), '--cluster-announce-bus-port', String(proxy.port)],
        ]).start(),
      );
    }
    const cluster = new BusProxiedCluster(nodes, proxies);
    try {
      for (const node of nodes.slice(1))
        node.cli('cluster', 'meet', '127.0.0.1', String(nodes[0].port), String(proxies[0].port));
      const per = Math.ceil(16384 / masters);
      nodes.forEach((node, i) =>
        node.cli('cluster', 'addslotsrange', String(i * per), String(Math.min(16383, (i + 1) * per - 1))),
      );
      const deadline = Date.now() + 15_000;
      while (!nodes.every((n) => n.cli('cluster', 'info').includes('cluster_state:ok'))) {
        if (Date.now() > deadline) throw new Error('the bus-proxied Redis Cluster did not reach cluster_state:ok');
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  /** The proxy in front of the node listening on `port`. */
  proxyOf(port: number): BusProxy {
    const at = this.nodes.findIndex((n) => n.port === port);
    if (at < 0) throw new Error(`no node of this cluster listens on ${port}`);
    return this.proxies[at];
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}
