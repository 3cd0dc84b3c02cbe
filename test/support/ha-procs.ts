import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/servers';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const kids = new Set<ChildProcess>();
process.once('exit', () => kids.forEach((k) => k.kill('SIGKILL')));

export class Proc {
  child!: ChildProcess;
  constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}
  async start(): Promise<this> {
    this.child = spawn('redis-server', this.args, { stdio: 'ignore' });
    kids.add(this.child);
    for (let i = 0; i < 200; i++) {
      try {
        if (this.cli('ping') === 'PONG') return this;
      } catch {
        // not yet
      }
      await sleep(50);
    }
    throw new Error(`redis on ${this.port} did not start`);
  }
  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8', timeout: 3000 }).trim();
  }
  stopProc(): void {
    this.child.kill('SIGSTOP');
  }
  cont(): void {
    this.child.kill('SIGCONT');
  }
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    await new Promise<void>((r) => {
      this.child.once('exit', () => r());
      this.child.kill('SIGKILL');
    });
    kids.delete(this.child);
  }
}

const dir = () => mkdtempSync(join(tmpdir(), 'rev-ha-'));
const base = (port: number, d: string) => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--dir',
  d,
  '--protected-mode',
  'no',
];

export async function redisNode(extra: string[] = []): Promise<Proc> {
  const port = await freePort();
  return new Proc(port, [...base(port, dir()), ...extra]).start();
}

/** master + replica + one sentinel with a quick failover. */
export async function sentinelSet(name = 'mymaster') {
  const master = await redisNode();
  const replica = await redisNode(['--replicaof', '127.0.0.1', String(master.port)]);
  const sport = await freePort();
  const d = dir();
  const conf = join(d, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${sport}`,
      'bind 127.0.0.1',
      `dir ${d}`,
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 3000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  const sentinel = await new Proc(sport, [conf, '--sentinel']).start();
  // wait for replica link up
  for (let i = 0; i < 100 && !replica.cli('info', 'replication').includes('master_link_status:up'); i++)
    await sleep(100);
  for (let i = 0; i < 100 && !sentinel.cli('sentinel', 'replicas', name).includes(String(replica.port)); i++)
    await sleep(100);
  const masterPort = () => Number(sentinel.cli('sentinel', 'get-master-addr-by-name', name).split('\n')[1]);
  const stop = async () => {
    await sentinel.kill();
    await replica.kill();
    await master.kill();
    rmSync(d, { recursive: true, force: true });
  };
  return { master, replica, sentinel, masterPort, stop, name };
}

/** A cluster of `masters` masters with `replicas` replicas each. */
export async function cluster(masters = 3, replicas = 1) {
  const nodes: Proc[] = [];
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await freePort();
    nodes.push(
      await new Proc(port, [
        ...base(port, dir()),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '1000',
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
  for (let i = 0; i < 150 && !nodes.every((n) => n.cli('cluster', 'info').includes('cluster_state:ok')); i++)
    await sleep(100);
  for (let i = 0; i < 150; i++) {
    const roles = nodes.map((n) => n.cli('info', 'replication'));
    if (
      roles.filter((r) => r.includes('role:slave')).length === masters * replicas &&
      roles.every((r) => !r.includes('role:slave') || r.includes('master_link_status:up'))
    )
      break;
    await sleep(100);
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    stop: async () => Promise.all(nodes.map((n) => n.kill())),
  };
}

/** Which of `nodes` owns `slot` now, as `CLUSTER SLOTS` asked of `admin` says. */
export async function ownerOf(admin: { cluster(...args: string[]): Promise<unknown> }, nodes: Proc[], slot: number) {
  const slots = (await admin.cluster('SLOTS')) as Array<[number, number, [string, number, string]]>;
  for (const [from, to, [, port]] of slots)
    if (slot >= from && slot <= to) return nodes.findIndex((n) => n.port === port);
  throw new Error(`slot ${slot} unowned`);
}
