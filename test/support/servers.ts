import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real redis-server and memcached processes on loopback for the tests: no mocks. Missing
 * binaries are installed from Debian's packages when running as root; otherwise the error names
 * the packages to install.
 */
const BINARIES = { 'redis-server': 'redis-server', 'redis-cli': 'redis-tools', memcached: 'memcached' } as const;

export function ensureServerBinaries(): void {
  const missing = Object.keys(BINARIES).filter((bin) => !which(bin));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((b) => BINARIES[b as keyof typeof BINARIES]))];
  if (process.getuid?.() !== 0) {
    throw new Error(
      `Tests need ${missing.join(', ')}: install the Debian packages ${packages.join(' ')} (apt-get install ${packages.join(' ')}).`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
  // The package starts system services on the default ports; the tests use their own processes.
  for (const svc of ['redis-server', 'memcached']) {
    try {
      execFileSync('service', [svc, 'stop'], { stdio: 'ignore' });
    } catch {
      // no service manager here: nothing was started
    }
  }
  const still = Object.keys(BINARIES).filter((bin) => !which(bin));
  if (still.length > 0) throw new Error(`Installing ${packages.join(' ')} did not provide ${still.join(', ')}.`);
}

function which(bin: string): boolean {
  return ['/usr/bin', '/usr/local/bin', '/usr/sbin', '/bin'].some((dir) => existsSync(join(dir, bin)));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => (s.destroy(), resolve(false)));
      s.connect(port, '127.0.0.1');
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Spins (at most a second) until every thread of `pid` is stopped; Linux only (elsewhere, returns). */
function untilStopped(pid: number): void {
  const end = Date.now() + 1_000;
  const stopped = () => {
    try {
      return readdirSync(`/proc/${pid}/task`).every((t) =>
        /^\d+ \(.*\) [tT] /.test(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')),
      );
    } catch {
      return true; // no /proc, or the process is gone
    }
  };
  while (!stopped() && Date.now() < end);
}

/** Servers this process started and has not stopped: killed with it (Ctrl-C, a CI timeout). */
const live = new Set<ChildProcess>();
let exitHooked = false;
function killWithThisProcess(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHooked) return;
  exitHooked = true;
  const killAll = () => {
    for (const c of live) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.once(signal, () => {
      killAll();
      process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15));
    });
}

abstract class ServerProcess {
  protected child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  protected abstract command(): [string, string[]];

  async start(): Promise<this> {
    const [cmd, args] = this.command();
    this.child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.on('error', () => undefined);
    killWithThisProcess(this.child);
    await waitForPort(this.port);
    return this;
  }

  /** SIGKILL: the server vanishes as in a crash. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    this.child = undefined;
  }

  /** SIGSTOP: the server keeps its sockets open and answers nothing, as a stalled host does. */
  freeze(): void {
    const pid = this.child?.pid;
    this.child?.kill('SIGSTOP');
    // kill() returns once the stop is sent, not once every thread of the server has stopped: a
    // request written in between could still be answered (a CI run saw an invalidation succeed
    // against a server just frozen). Wait (bounded) until the kernel shows each thread stopped.
    if (pid !== undefined) untilStopped(pid);
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  async stop(): Promise<void> {
    await this.kill();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }
}

/** Bounded: a frozen server must fail the call, not hang the suite. */
function redisCli(port: number, args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 3000 }).trim();
}

export class RedisServer extends ServerProcess {
  readonly dir = mkdtempSync(join(tmpdir(), 'ncm-redis-'));
  constructor(
    port: number,
    private readonly extra: string[] = [],
  ) {
    super(port);
  }

  static async launch(extra: string[] = []): Promise<RedisServer> {
    return new RedisServer(await freePort(), extra).start();
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected command(): [string, string[]] {
    return [
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--protected-mode',
        'no',
        ...this.extra,
      ],
    ];
  }

  cli(...args: string[]): string {
    return redisCli(this.port, args);
  }

  override async stop(): Promise<void> {
    await super.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class MemcachedServer extends ServerProcess {
  constructor(
    port: number,
    private readonly extra: string[] = [],
  ) {
    super(port);
  }

  static async launch(extra: string[] = []): Promise<MemcachedServer> {
    return new MemcachedServer(await freePort(), extra).start();
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  protected command(): [string, string[]] {
    const user = process.getuid?.() === 0 ? ['-u', 'root'] : [];
    return ['memcached', ['-p', String(this.port), '-l', '127.0.0.1', '-U', '0', '-m', '64', ...user, ...this.extra]];
  }
}

/** A Redis Sentinel watching one master under the name `name`. */
export class RedisSentinel extends ServerProcess {
  readonly dir = mkdtempSync(join(tmpdir(), 'ncm-sentinel-'));
  constructor(
    port: number,
    private readonly masterPort: number,
    readonly name = 'mymaster',
    private readonly downAfterMs?: number,
  ) {
    super(port);
  }

  /** `downAfterMs`: how long the master may be silent before a failover (Sentinel's default: 30 s). */
  static async launch(masterPort: number, name = 'mymaster', downAfterMs?: number): Promise<RedisSentinel> {
    return new RedisSentinel(await freePort(), masterPort, name, downAfterMs).start();
  }

  cli(...args: string[]): string {
    return redisCli(this.port, args);
  }

  /** The port of the master Sentinel names now. */
  masterNow(): number {
    return Number(this.cli('sentinel', 'get-master-addr-by-name', this.name).split('\n')[1]);
  }

  protected command(): [string, string[]] {
    const conf = join(this.dir, 'sentinel.conf');
    const quick =
      this.downAfterMs === undefined
        ? ''
        : `sentinel down-after-milliseconds ${this.name} ${this.downAfterMs}\nsentinel failover-timeout ${this.name} 3000\n`;
    writeFileSync(
      conf,
      `port ${this.port}\nbind 127.0.0.1\nsentinel monitor ${this.name} 127.0.0.1 ${this.masterPort} 1\n${quick}`,
    );
    return ['redis-server', [conf, '--sentinel']];
  }

  override async stop(): Promise<void> {
    await super.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A Redis Cluster of `masters` masters with `replicas` replicas each, built with
 * `redis-cli --cluster create`. `nodeTimeoutMs` is how long a silent master stays one before its
 * replica takes over.
 */
export class RedisCluster {
  constructor(readonly nodes: RedisServer[]) {}

  static async launch(masters = 3, { replicas = 0, nodeTimeoutMs = 2000 } = {}): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freePort();
      nodes.push(
        await new RedisServer(port, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
        ]).start(),
      );
    }
    execFileSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { stdio: 'ignore' },
    );
    const ready = () => {
      if (!nodes.every((n) => n.cli('cluster', 'info').includes('cluster_state:ok'))) return false;
      const roles = nodes.map((n) => n.cli('info', 'replication'));
      const linked = roles.filter((r) => r.includes('role:slave') && r.includes('master_link_status:up'));
      return linked.length === masters * replicas;
    };
    const deadline = Date.now() + 15_000;
    while (!ready()) {
      if (Date.now() > deadline)
        throw new Error('Redis Cluster did not reach cluster_state:ok with its replicas linked');
      await new Promise((r) => setTimeout(r, 100));
    }
    return new RedisCluster(nodes);
  }

  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
